"""Self-contained HTML reports: tables and PNGs inlined, so the file can be mailed or archived."""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path

from recloop.experiment.section import Section

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{border-bottom:2px solid #444;padding-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.9em} th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f2f2f2} td:first-child,th:first-child{text-align:left} img{max-width:100%;margin:.5em 0}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.85em} .meta{color:#666;font-size:.9em}
"""


def fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _table(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r.get(k, '')))}</td>" for k in keys) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def write_report(path: Path, title: str, sections: list[Section], *, config_text: str | None = None) -> Path:
    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p class="meta">recloop report, {dt.datetime.now().isoformat(timespec="seconds")}</p>']
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.text:
            parts.extend(f"<p>{html.escape(p)}</p>" for p in s.text.split("\n\n"))
        parts.append(_table(s.rows))
        parts.extend(_image(img) for img in s.images)
    if config_text:
        parts.append(f"<h2>Config</h2><pre>{html.escape(config_text)}</pre>")
    doc = f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>" \
          f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc)
    return path
