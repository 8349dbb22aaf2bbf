"""The dashboard page: CTR over time with model changes and roll-backs marked, traffic
with explicit vs default rewards, 503 share and latency, model versions, learning lag.

Plain HTML and a small inline script drawing on <canvas>; it loads nothing from
the web. It polls ``/v1/stats``; when the service needs a key, open the page as
``/#key=...`` (the fragment never leaves the browser, so the key is not logged).
After each draw the page records what it drew in ``body[data-*]`` attributes,
which the headless-browser test reads.
"""

DASHBOARD_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>recloop — live loop</title>
<style>
 body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
 h1{font-size:20px;margin:0 0 4px} .sub{color:#666;margin-bottom:16px}
 .cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:16px}
 .card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:120px}
 .card b{display:block;font-size:20px} canvas{border:1px solid #eee;width:100%;height:220px}
 table{border-collapse:collapse;margin-top:8px} td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:left}
 #err{color:#b00}
</style></head>
<body data-status="loading">
<h1>recloop — live learning loop</h1>
<div class="sub">decisions are logged with their propensities; rewards are joined once and learned online</div>
<div class="cards">
 <div class="card">CTR (last 1000)<b id="ctr">–</b></div>
 <div class="card">model<b id="ver">–</b></div>
 <div class="card" title="rewards in the live model (snapshot + online updates); after a roll-back this drops">rewards learned<b id="wm">–</b></div>
 <div class="card">learning lag p99<b id="lag">–</b></div>
 <div class="card">rank p50 / p99<b id="lat">–</b></div>
 <div class="card">answered 503<b id="e503">–</b></div>
 <div class="card">default rewards<b id="dflt">–</b></div>
</div>
<div id="err"></div>
<h3>CTR over time (mean reward of joined events, by decision time; lines: new model versions, red: roll-backs)</h3>
<canvas id="ctrChart" width="960" height="220"></canvas>
<h3>Traffic (green: decisions, orange: of which joined with the default reward, per bucket)</h3>
<canvas id="trafficChart" width="960" height="220"></canvas>
<h3>Model versions</h3>
<table><thead><tr><th>version</th><th>watermark</th><th>note</th><th>created</th></tr></thead>
<tbody id="models"></tbody></table>
<script>
"use strict";
const key = new URLSearchParams(location.hash.slice(1)).get("key");
function fmt(x, d) { return x === null || x === undefined ? "–" : Number(x).toFixed(d); }
function hms(t) { return new Date(t * 1000).toLocaleTimeString(); }
function draw(id, pts, color, yMax, extra, marks) {
  const c = document.getElementById(id), g = c.getContext("2d"), W = c.width, H = c.height, P = 30;
  g.clearRect(0, 0, W, H);
  g.strokeStyle = "#ccc"; g.beginPath(); g.moveTo(P, 5); g.lineTo(P, H - P); g.lineTo(W - 5, H - P); g.stroke();
  g.fillStyle = "#666"; g.font = "11px sans-serif";
  g.fillText(fmt(yMax, yMax < 2 ? 2 : 0), 2, 12); g.fillText("0", 18, H - P);
  if (pts.length === 0) { g.fillText("no data yet", W / 2 - 30, H / 2); return 0; }
  const t0 = pts[0][0], t1 = Math.max(pts[pts.length - 1][0], t0 + 1);
  const X = t => P + (W - P - 10) * (t - t0) / (t1 - t0), Y = v => (H - P) - (H - P - 10) * v / (yMax || 1);
  g.fillStyle = "#666"; g.fillText(hms(t0), P, H - P + 14);  // the time axis
  g.fillText(hms(t1), W - 70, H - P + 14); g.fillText(hms((t0 + t1) / 2), (P + W) / 2 - 30, H - P + 14);
  for (const m of (marks || [])) {  // model versions inside the window
    if (m.t < t0 || m.t > t1) continue;
    g.strokeStyle = m.rollback ? "#d62728" : "#bbb"; g.lineWidth = 1; g.beginPath();
    g.moveTo(X(m.t), 5); g.lineTo(X(m.t), H - P); g.stroke();
    g.fillStyle = m.rollback ? "#d62728" : "#999"; g.fillText(m.label, X(m.t) + 2, 14);
  }
  const line = (series, col) => {
    g.strokeStyle = col; g.lineWidth = 2; g.beginPath();
    series.forEach((p, i) => i ? g.lineTo(X(p[0]), Y(p[1])) : g.moveTo(X(p[0]), Y(p[1])));
    g.stroke(); g.fillStyle = col; series.forEach(p => g.fillRect(X(p[0]) - 2, Y(p[1]) - 2, 4, 4));
  };
  line(pts, color);
  if (extra) line(extra[0], extra[1]);
  return pts.length;
}
async function refresh() {
  try {
    const r = await fetch("v1/stats", {headers: key ? {"X-API-Key": key} : {}});
    if (!r.ok) throw new Error("stats: HTTP " + r.status);
    const s = await r.json();
    document.getElementById("ctr").textContent = fmt(s.ctr_recent, 3);
    document.getElementById("ver").textContent = s.model.name;
    document.getElementById("wm").textContent = s.model.updates;
    const rank = (s.requests || {})["/v1/rank"];
    document.getElementById("lat").textContent = rank && rank.p50_s !== null ?
      fmt(rank.p50_s * 1000, 1) + " / " + (rank.p99_s === null ? ">2500" : fmt(rank.p99_s * 1000, 1)) + " ms" : "–";
    const all = Object.values(s.requests || {}), n = all.reduce((a, r) => a + r.requests, 0);
    document.getElementById("e503").textContent = n ? fmt(100 * all.reduce((a, r) => a + r.requests * r.share_503, 0) / n, 2) + " %" : "–";
    const joined = s.timeline.reduce((a, b) => a + b.rewards, 0), dflt = s.timeline.reduce((a, b) => a + b.default_rewards, 0);
    document.getElementById("dflt").textContent = joined ? fmt(100 * dflt / joined, 1) + " %" : "–";
    document.getElementById("lag").textContent = s.learning_lag_s.p99 === null ? "–" : fmt(s.learning_lag_s.p99 * 1000, 0) + " ms";
    const ctr = s.timeline.filter(b => b.ctr !== null).map(b => [b.t, b.ctr]);
    const traffic = s.timeline.map(b => [b.t, b.decisions]);
    const marks = s.models.map(m => ({t: m.created, label: "v" + m.version, rollback: m.note.startsWith("activated")}));
    const defaults = s.timeline.map(b => [b.t, b.default_rewards]);
    const nC = draw("ctrChart", ctr, "#1f77b4", Math.max(0.1, ...ctr.map(p => p[1])), null, marks);
    const nT = draw("trafficChart", traffic, "#2ca02c", Math.max(1, ...traffic.map(p => p[1])), [defaults, "#ff7f0e"], marks);
    document.getElementById("models").innerHTML = "";
    for (const m of s.models) {
      const tr = document.createElement("tr");
      for (const v of ["v" + m.version, m.watermark, m.note, new Date(m.created * 1000).toLocaleTimeString()]) {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      }
      document.getElementById("models").appendChild(tr);
    }
    document.body.dataset.status = "drawn";
    document.body.dataset.ctrPoints = nC; document.body.dataset.trafficPoints = nT;
    document.body.dataset.models = s.models.length;
    document.body.dataset.learned = s.model.updates;
    document.getElementById("err").textContent = "";
  } catch (e) {
    document.body.dataset.status = "error";
    document.getElementById("err").textContent = String(e);
  }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""
