"""MovieLens ratings as sequences: loaders (RecBole atomic files, GroupLens 100k / 1M folders).

The default source is the copy of MovieLens-100k that the ``recbole`` 1.2.1 wheel ships under
``recbole/dataset_example/ml-100k/`` (RecBole "atomic files": tab-separated ``.inter``,
``.item``, ``.user`` with ``name:type`` headers). At set-up time, ``recloop data fetch`` (run by
``make`` when it builds ``.venv``) fetches the wheel once with the ordinary package client
(``pip download --no-deps recbole==1.2.1``) and copies the three files out of the zip into
``~/.cache/recloop/ml-100k`` — recbole itself is never installed or imported. Nothing is
downloaded at run time: without the files, loading says which command sets them up.
A folder in the GroupLens layout (``u.data`` + ``u.item`` [+ ``u.user``] for 100k,
``ratings.dat`` [+ ``movies.dat``, ``users.dat``] for 1M) can be given instead.

Harper & Konstan, "The MovieLens Datasets: History and Context", ACM TiiS 2015.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RECBOLE_VERSION = "1.2.1"
_WHEEL_DIR = "recbole/dataset_example/ml-100k/"
_ATOMIC = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


def cache_dir() -> Path:
    """``$RECLOOP_CACHE`` or ``~/.cache/recloop``."""
    return Path(os.environ.get("RECLOOP_CACHE", Path.home() / ".cache" / "recloop"))


@dataclass(frozen=True, slots=True)
class MovieLens:
    """Interactions (one row per rating, dense 0-based indices) plus item and user metadata.

    ``item_ids[i]`` / ``user_ids[u]`` map dense indices back to the dataset's own ids.
    ``years`` is 0 where unknown; ``genres`` is an ``(n_items, n_genres)`` 0/1 matrix over
    ``genre_names``. ``user_features`` holds demographics as string arrays (may be empty).
    """

    name: str
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    titles: tuple[str, ...]
    years: np.ndarray
    genres: np.ndarray
    genre_names: tuple[str, ...]
    user_features: dict[str, np.ndarray]

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_interactions(self) -> int:
        return len(self.users)

    def user_index(self, user_id: int) -> int:
        """Dense index of a dataset user id; a clear KeyError if there is no such user."""
        return _dense_index(self.user_ids, user_id, "user", self.name)

    def item_index(self, item_id: int) -> int:
        return _dense_index(self.item_ids, item_id, "item", self.name)

    def genre_labels(self, item: int) -> str:
        """Comma-joined genres of a dense item index."""
        return ", ".join(g for g, on in zip(self.genre_names, self.genres[item]) if on)


def _dense_index(ids: np.ndarray, raw: int, what: str, name: str) -> int:
    hit = np.flatnonzero(ids == int(raw))
    if hit.size == 0:
        raise KeyError(f"unknown {what} id {raw} in {name} (ids run {ids.min()}..{ids.max()})")
    return int(hit[0])


# --------------------------------------------------------------------------- sources


def _read_lines(path: Path, encoding: str) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"missing MovieLens file {path}")
    return path.read_bytes().decode(encoding, errors="replace").splitlines()


def _numeric(rows: list[list[str]], path: Path, first_line: int) -> np.ndarray:
    """Rows of numeric strings -> float64 array; a malformed row is reported with its line number."""
    try:
        return np.asarray(rows, dtype=object).astype(np.float64) if rows else np.zeros((0, 4))
    except (ValueError, TypeError):
        for n, r in enumerate(rows, first_line):
            try:
                [float(c) for c in r]
            except ValueError:
                raise ValueError(f"{path}:{n}: malformed row {r!r} (numbers expected)") from None
        raise


def _assemble(name: str, rows: np.ndarray, items_meta: dict[int, tuple[str, int, list[str]]],
              users_meta: dict[int, dict[str, str]], genre_names: list[str] | None = None) -> MovieLens:
    """rows: (n, 4) numbers: raw user, raw item, rating, timestamp."""
    if len(rows) == 0:
        raise ValueError(f"{name}: no interactions")
    user_ids, users = np.unique(rows[:, 0].astype(np.int64), return_inverse=True)
    # The catalogue is every item with metadata or interactions, so a never-rated film can
    # still be recommended (and is counted by catalogue coverage).
    item_ids = np.unique(np.concatenate([rows[:, 1].astype(np.int64),
                                         np.fromiter(items_meta, np.int64, len(items_meta))]))
    items = np.searchsorted(item_ids, rows[:, 1].astype(np.int64))
    if genre_names is None:
        genre_names = sorted({g for _, _, gs in items_meta.values() for g in gs})
    gpos = {g: j for j, g in enumerate(genre_names)}
    genres = np.zeros((len(item_ids), len(genre_names)), dtype=np.int8)
    titles, years = [], np.zeros(len(item_ids), dtype=np.int64)
    for i, iid in enumerate(item_ids):
        title, year, gs = items_meta.get(int(iid), (f"item {iid}", 0, []))
        titles.append(title)
        years[i] = year
        for g in gs:
            genres[i, gpos[g]] = 1
    fields = sorted({k for d in users_meta.values() for k in d})
    user_features = {f: np.array([users_meta.get(int(u), {}).get(f, "") for u in user_ids]) for f in fields}
    return MovieLens(name=name, users=users.astype(np.int64), items=items.astype(np.int64),
                     ratings=rows[:, 2].astype(np.float32), timestamps=rows[:, 3].astype(np.int64),
                     user_ids=user_ids, item_ids=item_ids, titles=tuple(titles), years=years,
                     genres=genres, genre_names=tuple(genre_names), user_features=user_features)


def _atomic_table(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = _read_lines(path, "utf-8")
    if not lines or ":" not in lines[0]:
        raise ValueError(f"{path}: not a RecBole atomic file (header 'name:type' expected)")
    header = [h.split(":")[0] for h in lines[0].split("\t")]
    rows = [ln.split("\t") for ln in lines[1:] if ln.strip()]
    for n, r in enumerate(rows, start=2):
        if len(r) != len(header):
            raise ValueError(f"{path}:{n}: expected {len(header)} tab-separated fields, got {len(r)}")
    return header, rows


def load_atomic(folder: str | os.PathLike, name: str = "ml-100k") -> MovieLens:
    """RecBole atomic files ``<name>.inter`` (+ ``.item``, ``.user`` when present)."""
    folder = Path(folder)
    header, rows = _atomic_table(folder / f"{name}.inter")
    need = ["user_id", "item_id", "rating", "timestamp"]
    missing = [c for c in need if c not in header]
    if missing:
        raise ValueError(f"{folder / (name + '.inter')}: missing columns {missing}")
    idx = [header.index(c) for c in need]
    arr = _numeric([[r[j] for j in idx] for r in rows], folder / f"{name}.inter", 2)
    items_meta: dict[int, tuple[str, int, list[str]]] = {}
    if (folder / f"{name}.item").is_file():
        h, rs = _atomic_table(folder / f"{name}.item")
        for r in rs:
            rec = dict(zip(h, r))
            year = rec.get("release_year", "")
            items_meta[int(rec["item_id"])] = (rec.get("movie_title", ""), int(year) if year.isdigit() else 0,
                                               rec.get("class", "").split())
    users_meta: dict[int, dict[str, str]] = {}
    if (folder / f"{name}.user").is_file():
        h, rs = _atomic_table(folder / f"{name}.user")
        for r in rs:
            rec = dict(zip(h, r))
            users_meta[int(rec.pop("user_id"))] = rec
    return _assemble(name, arr, items_meta, users_meta)


_GL100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                  "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                  "Romance", "Sci-Fi", "Thriller", "War", "Western"]
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def _split_title(title: str) -> tuple[str, int]:
    m = _YEAR.search(title)
    return (title[: m.start()].strip(), int(m.group(1))) if m else (title.strip(), 0)


def load_grouplens(folder: str | os.PathLike) -> MovieLens:
    """A GroupLens folder: 100k (``u.data``, ``u.item``, ``u.user``) or 1M (``*.dat``)."""
    folder = Path(folder)
    if (folder / "u.data").is_file():
        rows = [ln.split("\t") for ln in _read_lines(folder / "u.data", "latin-1") if ln.strip()]
        if any(len(r) != 4 for r in rows):
            raise ValueError(f"{folder / 'u.data'}: rows must be 'user<TAB>item<TAB>rating<TAB>timestamp'")
        arr = _numeric(rows, folder / "u.data", 1)
        items_meta = {}
        for n, ln in enumerate(_read_lines(folder / "u.item", "latin-1"), 1):
            if not ln.strip():
                continue
            f = ln.split("|")
            if len(f) != 5 + len(_GL100K_GENRES):
                raise ValueError(f"{folder / 'u.item'}:{n}: expected {5 + len(_GL100K_GENRES)} '|' fields")
            title, year = _split_title(f[1])
            if not year and f[2][-4:].isdigit():
                year = int(f[2][-4:])
            items_meta[int(f[0])] = (title, year, [g for g, v in zip(_GL100K_GENRES, f[5:]) if v == "1"])
        users_meta = {}
        if (folder / "u.user").is_file():
            for ln in _read_lines(folder / "u.user", "latin-1"):
                f = ln.split("|")
                if len(f) == 5:
                    users_meta[int(f[0])] = dict(zip(["age", "gender", "occupation", "zip_code"], f[1:]))
        return _assemble("ml-100k", arr, items_meta, users_meta, _GL100K_GENRES)
    if (folder / "ratings.dat").is_file():
        rows = [ln.split("::") for ln in _read_lines(folder / "ratings.dat", "latin-1") if ln.strip()]
        if any(len(r) != 4 for r in rows):
            raise ValueError(f"{folder / 'ratings.dat'}: rows must be 'user::item::rating::timestamp'")
        arr = _numeric(rows, folder / "ratings.dat", 1)
        items_meta = {}
        if (folder / "movies.dat").is_file():
            for ln in _read_lines(folder / "movies.dat", "latin-1"):
                f = ln.split("::")
                if len(f) == 3:
                    title, year = _split_title(f[1])
                    items_meta[int(f[0])] = (title, year, f[2].split("|"))
        users_meta = {}
        if (folder / "users.dat").is_file():
            for ln in _read_lines(folder / "users.dat", "latin-1"):
                f = ln.split("::")
                if len(f) == 5:
                    users_meta[int(f[0])] = dict(zip(["gender", "age", "occupation", "zip_code"], f[1:]))
        return _assemble("ml-1m", arr, items_meta, users_meta)
    raise FileNotFoundError(f"{folder} holds no MovieLens data: expected u.data + u.item (100k), "
                            f"ratings.dat (1M) or ml-100k.inter (RecBole atomic files)")


def _find_wheel(wheels: Path) -> Path | None:
    found = sorted(wheels.glob(f"recbole-{RECBOLE_VERSION}-*.whl"))
    return found[0] if found else None


SETUP_HINT = ("run `recloop data fetch` once (`make` does it when it sets up .venv), "
              "or pass a folder of MovieLens files in the GroupLens format (u.data, u.item)")


def ensure_ml100k(cache: str | os.PathLike | None = None, *, allow_download: bool = False) -> Path:
    """Folder holding ``ml-100k.{inter,item,user}``; extracts them from a fetched wheel if needed.

    Never downloads unless ``allow_download`` (what :func:`fetch_ml100k`, the set-up step, passes);
    a missing data set is a FileNotFoundError naming the set-up command.
    """
    root = Path(cache) if cache is not None else cache_dir()
    target = root / "ml-100k"
    if all((target / f).is_file() for f in _ATOMIC):
        return target
    wheels = root / "wheels"
    wheel = _find_wheel(wheels)
    if wheel is None:
        if not allow_download:
            raise FileNotFoundError(f"MovieLens-100k is not set up (no {target / _ATOMIC[0]}): {SETUP_HINT}")
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"recbole=={RECBOLE_VERSION}", "-d", str(wheels)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheel = _find_wheel(wheels)
        if wheel is None:
            raise RuntimeError(f"could not fetch the recbole wheel ({' '.join(cmd)}): {proc.stderr.strip()[-400:]}")
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for f in _ATOMIC:
            tmp = target / f".{f}.tmp"
            tmp.write_bytes(zf.read(_WHEEL_DIR + f))
            tmp.replace(target / f)  # atomic: a crash never leaves half a file in the cache
    return target


def fetch_ml100k(cache: str | os.PathLike | None = None) -> Path:
    """The set-up step: fetch (once) and extract MovieLens-100k into the cache; returns its folder."""
    return ensure_ml100k(cache, allow_download=True)


def load_movielens(path: str | os.PathLike | None = None) -> MovieLens:
    """MovieLens from ``path`` (GroupLens or atomic-file folder) or, by default, the cached ML-100k.

    Example:
        >>> ml = load_movielens()                     # doctest: +SKIP
        >>> ml.n_users, ml.n_items, ml.n_interactions  # doctest: +SKIP
        (943, 1682, 100000)
    """
    if path is None:
        return load_atomic(ensure_ml100k(), "ml-100k")
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"MovieLens folder {folder} does not exist")
    atomic = sorted(folder.glob("*.inter"))
    if atomic and not (folder / "u.data").is_file() and not (folder / "ratings.dat").is_file():
        return load_atomic(folder, atomic[0].stem)
    return load_grouplens(folder)


# Release decades for the metadata embedding; films before 1930 share one bucket (few in ML).
_DECADES = tuple(range(1930, 2010, 10))


def metadata_item_embeddings(data: MovieLens, *, cache: str | os.PathLike | None = None,
                             use_cache: bool = True) -> np.ndarray:
    """Unit-length item vectors from metadata alone: genres and release decade, cached on disk.

    Each item gets its genre indicators (``data.genre_names``) and a one-hot of its release
    decade (``<1930``, ``1930s`` ... ``2000s``; all zeros if the year is unknown), with the two
    blocks weighted equally (each scaled to unit length) and the whole row normalised, so the
    inner product of two items is a cosine similarity of their metadata. These need no
    ratings, so they also describe items nobody has rated yet (the cold-start case where
    learned MF embeddings do not exist).

    The array is cached as ``<cache>/embeddings/<name>-meta-<digest>.npy`` (default cache:
    :func:`cache_dir`); the digest covers the genres and years, so edited metadata never
    reads a stale file.

    Example:
        >>> ml = load_movielens()                                 # doctest: +SKIP
        >>> metadata_item_embeddings(ml).shape                    # doctest: +SKIP
        (1682, 28)
    """
    import hashlib

    genres = np.asarray(data.genres, dtype=np.float32).reshape(data.n_items, -1)
    years = np.asarray(data.years, dtype=np.int64)
    digest = hashlib.sha1(genres.tobytes() + years.tobytes() + "|".join(data.genre_names).encode()).hexdigest()[:12]
    path = Path(cache if cache is not None else cache_dir()) / "embeddings" / f"{data.name}-meta-{digest}.npy"
    if use_cache and path.is_file():
        return np.load(path)
    decade = np.zeros((data.n_items, len(_DECADES) + 1), np.float32)
    known = years > 0
    decade[known, np.searchsorted(_DECADES, years[known], side="right")] = 1.0

    def unit_rows(x: np.ndarray) -> np.ndarray:
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)

    emb = unit_rows(np.concatenate([unit_rows(genres), unit_rows(decade)], axis=1)).astype(np.float32)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, emb)
        tmp.replace(path)  # atomic, as the data cache
    return emb
