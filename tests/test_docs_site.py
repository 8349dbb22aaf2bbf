"""The docs site builds with --strict: every link resolves, every API page renders from its docstrings.

The tutorials are rendered without running them here (RECLOOP_DOCS_EXECUTE=0):
tests/test_tutorials.py runs each one already, and running them twice would double the
suite's longest tests. `make docs` builds the site with every tutorial executed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MISSING = [m for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
           if importlib.util.find_spec(m.split(".")[0]) is None
           or (m == "mkdocstrings_handlers.python" and importlib.util.find_spec(m) is None)]


@pytest.mark.skipif(bool(MISSING), reason=f"the 'docs' extra is not installed (missing: {', '.join(MISSING)}); "
                                          "pip install -e '.[docs]'")
def test_site_builds_strictly(tmp_path):
    env = {**os.environ, "RECLOOP_DOCS_EXECUTE": "0", "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, timeout=300, env=env,
                          cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    site = tmp_path / "site"
    first = (site / "tutorials" / "01_bandits" / "index.html").read_text(encoding="utf-8")
    assert "Multi-armed bandits" in first and 'href="../02_contextual_bandits/"' in first
    assert (site / "tutorials" / "10_live_loop" / "index.html").is_file()
    api = (site / "api" / "bandits" / "index.html").read_text(encoding="utf-8")
    assert "LinUCB" in api and "Sherman-Morrison" in api, "the API reference is generated from the docstrings"
    assert (site / "search" / "search_index.json").is_file()
