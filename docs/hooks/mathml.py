"""An MkDocs hook: the site's formulas become MathML at build time, so they read offline.

``pymdownx.arithmatex`` (generic mode) wraps each ``$...$`` in ``<span class="arithmatex">\\(...\\)</span>``
and each ``$$...$$`` in ``<div class="arithmatex">\\[...\\]</div>``. This hook replaces the TeX inside
with the MathML that ``latex2mathml`` (pure Python) writes for it; browsers draw MathML themselves
(Chromium 109+, Firefox, Safari), so the pages need no script and no network. The wrappers stay, for
the theme's layout of display maths.

latex2mathml does not know every TeX command: an unknown one comes out as its literal text
(``\\arg`` -> ``<mi>\\arg</mi>``), and some wrappers nest elements inside a token (``\\mathrel{+}``).
Both fail the build with the page and the formula, so a formula that would render wrong is
rewritten (``\\operatorname{argmax}``) instead of shipped.
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert
from mkdocs.exceptions import PluginError

_MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
_DELIMITED = re.compile(r"^\\[(\[](.*)\\[)\]]$", re.S)
# A token element (mi, mo, mn, mtext) holds text only: a backslash there is a command latex2mathml
# did not know; an element there is a wrapper it mis-nested.
_UNKNOWN = re.compile(r"<(mi|mo|mn|mtext)\b[^>]*>[^<]*\\")
_NESTED = re.compile(r"<(mi|mo|mn|mtext)\b[^>/]*>[^<]*<(?!/)")


def to_mathml(tex: str, display: bool) -> str:
    """The MathML of one formula; raises ValueError naming the formula when it would render wrong."""
    try:
        mathml = convert(tex, display="block" if display else "inline")
    except Exception as error:  # latex2mathml raises its own exception types, and IndexError on bad input
        raise ValueError(f"latex2mathml cannot convert {tex!r}: {error}") from error
    if _UNKNOWN.search(mathml) or _NESTED.search(mathml):
        raise ValueError(f"latex2mathml does not support a command in {tex!r} (its MathML: {mathml})")
    return mathml


def on_page_content(html_text: str, page, **kwargs) -> str:
    def replace(match: re.Match) -> str:
        tag, body = match.group(1), html.unescape(match.group(2)).strip()
        delimited = _DELIMITED.match(body)
        tex = delimited.group(1).strip() if delimited else body
        try:
            mathml = to_mathml(tex, display=tag == "div")
        except ValueError as error:
            raise PluginError(f"{page.file.src_uri}: {error}") from error
        return f'<{tag} class="arithmatex">{mathml}</{tag}>'

    return _MATH.sub(replace, html_text)
