"""Every tutorial runs, at the CI budget, as a reader would run it, and checks its own result.

Each tutorial in docs/tutorials/ is executed in a fresh interpreter by the same renderer the
docs site uses (docs/hooks/tutorials.py), with RECLOOP_TUTORIAL_FAST=1. The tutorials assert
what they teach (UCB's regret below random's, SARSA safer than Q-learning while exploring,
DR's error below IPS's, ...), so a tutorial whose lesson stops being true fails here. This
file also checks the path itself: numbered 01..10, each with a formula, a plot, something to
try next and a link to the next one.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
RENDERER = ROOT / "docs" / "hooks" / "tutorials.py"
PATH = sorted(p for p in TUTORIALS.glob("*.py") if re.match(r"^\d\d_", p.name))
# Wall-clock cap per tutorial. Each needs well under a minute of CPU at the CI budget (see the
# report in the commit that added them); the cap leaves room for a machine shared with other jobs.
TIMEOUT_S = 240


def _renderer():
    spec = importlib.util.spec_from_file_location("tutorial_renderer", RENDERER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _needs(path: Path) -> str | None:
    """Why a tutorial cannot run here (a missing extra or data set), or None."""
    text = path.read_text(encoding="utf-8")
    for marker, module, extra in (("import torch", "torch", "deep"), ("recloop.envs.atari", "minatar", "deep"),
                                  ("recloop.serve", "fastapi", "serve")):
        if marker in text and importlib.util.find_spec(module) is None:
            return f"needs the '{extra}' extra ({module} is not installed)"
    if "load_movielens()" in text:
        from recloop.data.movielens import cache_dir
        if not (cache_dir() / "ml-100k" / "ml-100k.inter").is_file():
            return "needs MovieLens-100k in the local cache (see docs/movielens.md)"
    return None


def test_the_path_is_ten_numbered_tutorials_linked_in_order():
    assert [p.name[:2] for p in PATH] == [f"{i:02d}" for i in range(1, 11)]
    for this, following in zip(PATH, PATH[1:] + [None]):
        text = this.read_text(encoding="utf-8")
        cells = _renderer().parse_cells(text)
        prose = "\n".join(src for kind, src, _ in cells if kind == "markdown")
        code = "\n".join(src for kind, src, _ in cells if kind == "code")
        assert prose.startswith(f"# {this.name[:2]} "), f"{this.name}: the first cell is the title"
        assert "$" in prose, f"{this.name}: the idea comes with its formula"
        assert "## What to try next" in prose, this.name
        assert "plt.show()" in code, f"{this.name}: draws a plot"
        assert re.search(r"^assert ", code, re.MULTILINE), f"{this.name}: checks its own result"
        if following is not None:
            assert f"**Next:** [{following.name[:2]}" in prose and f"]({following.name})" in prose, \
                f"{this.name} must end with a link to {following.name}"


def test_readme_links_the_first_tutorial():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"docs/tutorials/{PATH[0].name}" in readme


def test_parse_cells_reads_the_percent_format():
    text = "# ---\n# jupyter:\n# ---\n\n# %% [markdown]\n# # Title\n#\n# Prose $x$.\n\n# %%\nx = 1\n\nprint(x)\n"
    assert _renderer().parse_cells(text) == [("markdown", "# Title\n\nProse $x$.", 5), ("code", "x = 1\n\nprint(x)", 10)]


def test_a_failing_cell_fails_the_render_with_its_line(tmp_path):
    broken = tmp_path / "99_broken.py"
    broken.write_text("# %%\nimport matplotlib.pyplot as plt\n\n# %%\nx = 1\nassert x == 2, 'the lesson no longer holds'\n")
    done = subprocess.run([sys.executable, str(RENDERER), str(broken), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "the lesson no longer holds" in done.stderr and f'File "{broken}", line 6' in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("path", PATH, ids=[p.stem for p in PATH])
def test_tutorial_runs_and_draws(path, tmp_path):
    reason = _needs(path)
    if reason:
        pytest.skip(reason)
    env = {**os.environ, "RECLOOP_TUTORIAL_FAST": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, str(RENDERER), str(path), str(tmp_path)], capture_output=True,
                          text=True, timeout=TIMEOUT_S, env=env, cwd=tmp_path)
    assert done.returncode == 0, f"{path.name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-4000:]}"
    page = (tmp_path / f"{path.stem}.md").read_text(encoding="utf-8")
    figures = sorted(tmp_path.glob(f"{path.stem}-fig*.png"))
    assert figures, f"{path.name} drew no figure"
    for png in figures:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5_000
        assert f"]({png.name})" in page
    assert "```text" in page, f"{path.name} printed nothing"
    # links between tutorials become links between pages
    assert re.search(r"\]\(\d\d_[a-z0-9_]+\.md", page) and not re.search(r"\]\(\d\d_[a-z0-9_]+\.py", page)
