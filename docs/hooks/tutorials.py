"""Run a tutorial (a jupytext percent-format .py) cell by cell and write it as Markdown with its outputs.

The tutorials in docs/tutorials/ are notebooks kept as plain Python: ``# %%`` starts a code
cell, ``# %% [markdown]`` a prose cell. This file is two things:

* a script, used by the tests and by hand::

      python docs/hooks/tutorials.py docs/tutorials/01_bandits.py OUT_DIR   # OUT_DIR/01_bandits.md + PNGs

  It executes the cells in order in one namespace (as a notebook kernel would), captures
  what each cell prints and every figure it shows (``plt.show()`` saves the open figures as
  PNGs), and writes the page. It exits non-zero, with the traceback, if a cell fails.

* an MkDocs hook (``hooks:`` in mkdocs.yml): the tutorial .py files become generated
  Markdown pages, each run in a fresh interpreter by the script above. Links between
  tutorials (``02_contextual_bandits.py``) become links between pages, so MkDocs checks
  them in ``--strict`` builds. ``RECLOOP_DOCS_EXECUTE=0`` renders the code without running
  it (the test suite runs the tutorials separately); ``RECLOOP_TUTORIAL_FAST=1`` is passed
  through to the tutorials as it is.

We run the cells ourselves instead of through a Jupyter kernel so the site builds with no
kernel, no network and no extra process machinery, and links stay MkDocs links.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

TUTORIAL = re.compile(r"^\d\d_[a-z0-9_]+\.py$")
# A relative link to another tutorial's .py file, in Markdown: ](02_contextual_bandits.py) or ](02_x.py#part)
_PY_LINK = re.compile(r"\]\((\d\d_[a-z0-9_]+)\.py(#[^)]*)?\)")


def parse_cells(text: str) -> list[tuple[str, str, int]]:
    """The (kind, source, first line) cells of a percent-format file; kind is 'code' or 'markdown'.

    The jupytext header (a ``# ---`` block before the first cell) is dropped; prose cells
    lose their ``# `` comment prefix. The first line (0-based) lets tracebacks name the
    file's own line numbers.
    """
    cells: list[tuple[str, list[str], int]] = []
    for number, line in enumerate(text.splitlines()):
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", [], number + 1))
        elif cells:
            cells[-1][1].append(line)
    out = []
    for kind, lines, first in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        while lines and not lines[0].strip():
            lines, first = lines[1:], first + 1
        source = "\n".join(lines).rstrip()
        if source:
            out.append((kind, source, first))
    return out


def execute(path: Path, out_dir: Path) -> list[dict]:
    """Run the code cells of ``path`` in order; returns, per cell, its printed text and figure files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results: list[dict] = []
    current: dict = {}
    saved = 0

    def save_open_figures(*_args, **_kwargs) -> None:
        nonlocal saved
        for num in plt.get_fignums():
            saved += 1
            name = f"{path.stem}-fig{saved}.png"
            plt.figure(num).savefig(out_dir / name, dpi=90, bbox_inches="tight")
            current["figures"].append(name)
        plt.close("all")

    plt.show = save_open_figures
    namespace = {"__name__": "__main__", "__file__": str(path)}
    sys.path.insert(0, str(path.parent))
    for kind, source, first in parse_cells(path.read_text(encoding="utf-8")):
        current = {"kind": kind, "source": source, "stdout": "", "figures": [], "seconds": 0.0}
        results.append(current)
        if kind != "code":
            continue
        buf = io.StringIO()
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(buf):
                exec(compile("\n" * first + source, str(path), "exec"), namespace)
                save_open_figures()  # a figure left open at the end of a cell shows, as in Jupyter
        finally:
            current["stdout"] = buf.getvalue()
            current["seconds"] = time.perf_counter() - t0
            sys.stdout.write(current["stdout"])
    return results


def to_markdown(cells: list[dict]) -> str:
    """The page: prose as it is, code in fences, printed text in ``text`` fences, figures as images."""
    parts = []
    for cell in cells:
        if cell["kind"] == "markdown":
            parts.append(_PY_LINK.sub(lambda m: f"]({m.group(1)}.md{m.group(2) or ''})", cell["source"]))
            continue
        parts.append(f"```python\n{cell['source']}\n```")
        if cell.get("stdout", "").strip():
            parts.append(f"```text\n{cell['stdout'].rstrip()}\n```")
        parts.extend(f"![output of the cell above]({name})" for name in cell.get("figures", []))
    return "\n\n".join(parts) + "\n"


def render(path: Path, out_dir: Path, *, run: bool = True) -> Path:
    """Write ``out_dir/<stem>.md`` (and its figures); with ``run=False`` the code is shown without outputs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if run:
        cells = execute(path, out_dir)
    else:
        cells = [{"kind": k, "source": s} for k, s, _ in parse_cells(path.read_text(encoding="utf-8"))]
    md = out_dir / f"{path.stem}.md"
    md.write_text(to_markdown(cells), encoding="utf-8")
    return md


def render_in_subprocess(path: Path, out_dir: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run this file as a script on ``path``: each tutorial gets a fresh interpreter."""
    return subprocess.run([sys.executable, __file__, str(path), str(out_dir)], capture_output=True, text=True,
                          timeout=timeout)


# ---- the MkDocs hook ----

_rendered: list[Path] = []  # this build's page folders, removed once the site is written


def on_files(files, config):  # noqa: ANN001 - MkDocs' types, imported only when MkDocs runs
    from mkdocs.exceptions import PluginError
    from mkdocs.structure.files import File

    run = os.environ.get("RECLOOP_DOCS_EXECUTE", "1") != "0"
    out_root = Path(tempfile.mkdtemp(prefix="recloop-tutorials-"))
    _rendered.append(out_root)
    for f in list(files):
        if not (f.src_uri.startswith("tutorials/") and TUTORIAL.match(Path(f.src_uri).name)):
            continue
        files.remove(f)
        path = Path(f.abs_src_path)
        if run:
            t0 = time.perf_counter()
            done = render_in_subprocess(path, out_root)
            if done.returncode != 0:
                raise PluginError(f"tutorial {f.src_uri} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
            print(f"INFO    -  tutorial {f.src_uri} ran in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        else:
            render(path, out_root, run=False)
        files.append(File.generated(config, f"tutorials/{path.stem}.md",
                                    abs_src_path=str(out_root / f"{path.stem}.md")))
        for png in sorted(out_root.glob(f"{path.stem}-fig*.png")):
            files.append(File.generated(config, f"tutorials/{png.name}", abs_src_path=str(png)))
    return files


def on_post_build(config):  # noqa: ANN001
    import shutil

    while _rendered:
        shutil.rmtree(_rendered.pop(), ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python docs/hooks/tutorials.py TUTORIAL.py OUT_DIR", file=sys.stderr)
        return 2
    path, out_dir = Path(argv[0]).resolve(), Path(argv[1])
    t0 = time.perf_counter()
    try:
        md = render(path, out_dir)
    except Exception:  # the traceback is the message: which cell, which line
        traceback.print_exc()
        return 1
    print(f"wrote {md} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
