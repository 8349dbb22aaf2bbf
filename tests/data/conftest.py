"""Helpers shared by the data tests."""

from __future__ import annotations

import pytest

GENRES = "0|1|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0"  # Action, Comedy


def _write_grouplens(folder, rows):
    folder.mkdir(exist_ok=True)
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))
    items = sorted({i for _, i, _, _ in rows} | {99})
    (folder / "u.item").write_bytes("".join(
        f"{i}|Movie {i} (199{i % 10})|01-Jan-199{i % 10}||http://x|{GENRES}\n" for i in items).encode("latin-1")
        + "7|Café Society (1995)|01-Jan-1995||http://x|{}\n".format(GENRES).encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")



@pytest.fixture
def write_grouplens():
    """Writes a small GroupLens-100k folder (u.data, u.item with a Latin-1 title, u.user)."""
    return _write_grouplens
