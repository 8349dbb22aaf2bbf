"""A report section: what one demo stage or experiment contributes to an HTML report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Section:
    """``rows`` is a leaderboard-like table (list of dicts, same keys); ``images`` are PNG paths."""

    title: str
    text: str = ""
    rows: list[dict] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
