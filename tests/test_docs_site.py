"""The docs site builds with --strict: every link resolves, every API page renders from its docstrings.

The tutorials are rendered without running them here (RECLOOP_DOCS_EXECUTE=0):
tests/test_tutorials.py runs each one already, and running them twice would double the
suite's longest tests. `make docs` builds the site with every tutorial executed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
MISSING = [m for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python", "latex2mathml")
           if importlib.util.find_spec(m.split(".")[0]) is None
           or (m == "mkdocstrings_handlers.python" and importlib.util.find_spec(m) is None)]
needs_docs_extra = pytest.mark.skipif(bool(MISSING), reason=f"the 'docs' extra is not installed (missing: "
                                                            f"{', '.join(MISSING)}); pip install -e '.[docs]'")


@needs_docs_extra
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

    # The formulas are MathML in the page, not TeX for a script to typeset: they read offline.
    pages = {path: path.read_text(encoding="utf-8") for path in site.rglob("*.html")}
    for path, text in pages.items():
        external = re.findall(r'<script[^>]+src="(?:https?:)?//[^"]*"', text)
        assert not external, f"{path.relative_to(site)} loads a script from the network: {external}"
        assert "mathjax" not in text.lower(), f"{path.relative_to(site)} still refers to MathJax"
    wrapped = re.findall(r'<(span|div) class="arithmatex">(.*?)</\1>', first, re.S)
    assert len(wrapped) >= 10, "tutorial 01 states its ideas with formulas"
    assert all(body.startswith("<math ") and body.endswith("</math>") for _, body in wrapped), wrapped[:3]
    # $$R_T = \sum_{t=1}^{T} ...$$ is display maths: R with subscript T, the sum with both limits
    regret = next(body for tag, body in wrapped if tag == "div")
    assert 'display="block"' in regret and "<msub><mi>R</mi><mi>T</mi></msub>" in regret
    assert "<munderover><mo>&#x02211;</mo>" in regret


def _mathml_hook():
    spec = importlib.util.spec_from_file_location("recloop_docs_mathml", ROOT / "docs" / "hooks" / "mathml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _on_page_content(html_text, src_uri):
    page = SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))
    return _mathml_hook().on_page_content(html_text, page=page, config=None, files=None)


@needs_docs_extra
def test_formula_becomes_mathml_and_unknown_commands_fail():
    hook = _mathml_hook()
    inline = hook.to_mathml(r"\hat\mu_k", display=False)
    assert inline.startswith("<math ") and 'display="inline"' in inline and "&#x003BC;" in inline
    # latex2mathml writes \arg as the literal text "\arg", and nests \mathrel{+} inside an <mo>:
    # shipped, both would show wrong, so the build stops and names the formula
    with pytest.raises(ValueError, match=r"does not support a command in '\\\\arg"):
        hook.to_mathml(r"\arg\max_a Q(s, a)", display=False)
    with pytest.raises(ValueError, match="mathrel"):
        hook.to_mathml(r"A \mathrel{+}= x", display=True)


@needs_docs_extra
def test_a_page_with_a_bad_formula_names_the_page():
    from mkdocs.exceptions import PluginError

    good = '<p>so <span class="arithmatex">\\(x &lt; 1\\)</span></p>'
    assert "<mo>&#x0003C;</mo>" in _on_page_content(good, "tutorials/99_x.md")
    with pytest.raises(PluginError, match=r"tutorials/99_x\.md: .*\\\\arg"):
        _on_page_content('<div class="arithmatex">\\[\\arg x\\]</div>', "tutorials/99_x.md")

