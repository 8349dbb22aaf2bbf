"""The dashboard page: CTR over time, traffic, model versions, learning lag.

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
 <div class="card">rewards learned<b id="wm">–</b></div>
 <div class="card">learning lag p99<b id="lag">–</b></div>
</div>
<div id="err"></div>
<h3>CTR over time (mean reward of joined events, by decision time)</h3>
<canvas id="ctrChart" width="960" height="220"></canvas>
<h3>Traffic (decisions per bucket)</h3>
<canvas id="trafficChart" width="960" height="220"></canvas>
<h3>Model versions</h3>
<table><thead><tr><th>version</th><th>watermark</th><th>note</th><th>created</th></tr></thead>
<tbody id="models"></tbody></table>
<script>
"use strict";
const key = new URLSearchParams(location.hash.slice(1)).get("key");
function fmt(x, d) { return x === null || x === undefined ? "–" : Number(x).toFixed(d); }
function draw(id, pts, color, yMax) {
  const c = document.getElementById(id), g = c.getContext("2d"), W = c.width, H = c.height, P = 30;
  g.clearRect(0, 0, W, H);
  g.strokeStyle = "#ccc"; g.beginPath(); g.moveTo(P, 5); g.lineTo(P, H - P); g.lineTo(W - 5, H - P); g.stroke();
  g.fillStyle = "#666"; g.font = "11px sans-serif";
  g.fillText(fmt(yMax, yMax < 2 ? 2 : 0), 2, 12); g.fillText("0", 18, H - P);
  if (pts.length === 0) { g.fillText("no data yet", W / 2 - 30, H / 2); return 0; }
  const t0 = pts[0][0], t1 = Math.max(pts[pts.length - 1][0], t0 + 1);
  const X = t => P + (W - P - 10) * (t - t0) / (t1 - t0), Y = v => (H - P) - (H - P - 10) * v / (yMax || 1);
  g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
  pts.forEach((p, i) => i ? g.lineTo(X(p[0]), Y(p[1])) : g.moveTo(X(p[0]), Y(p[1])));
  g.stroke();
  g.fillStyle = color; pts.forEach(p => g.fillRect(X(p[0]) - 2, Y(p[1]) - 2, 4, 4));
  return pts.length;
}
async function refresh() {
  try {
    const r = await fetch("v1/stats", {headers: key ? {"X-API-Key": key} : {}});
    if (!r.ok) throw new Error("stats: HTTP " + r.status);
    const s = await r.json();
    document.getElementById("ctr").textContent = fmt(s.ctr_recent, 3);
    document.getElementById("ver").textContent = s.model.name;
    document.getElementById("wm").textContent = s.model.watermark;
    document.getElementById("lag").textContent = s.learning_lag_s.p99 === null ? "–" : fmt(s.learning_lag_s.p99 * 1000, 0) + " ms";
    const ctr = s.timeline.filter(b => b.ctr !== null).map(b => [b.t, b.ctr]);
    const traffic = s.timeline.map(b => [b.t, b.decisions]);
    const nC = draw("ctrChart", ctr, "#1f77b4", Math.max(0.1, ...ctr.map(p => p[1])));
    const nT = draw("trafficChart", traffic, "#2ca02c", Math.max(1, ...traffic.map(p => p[1])));
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
    document.getElementById("err").textContent = "";
  } catch (e) {
    document.body.dataset.status = "error";
    document.getElementById("err").textContent = String(e);
  }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""
