"""Versioned save/load without pickle: JSON metadata + numpy arrays in one ``.npz`` file.

Written atomically (temp file + rename) so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1


def _encode(value: Any, arrays: dict[str, np.ndarray], key: str) -> Any:
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, np.random.Generator):
        return {"__rng__": value.bit_generator.state}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, arrays, f"{key}.k{i}"), _encode(v, arrays, f"{key}.{i}")]
                             for i, (k, v) in enumerate(value.items())]}
    if isinstance(value, (list, tuple)):
        return [_encode(v, arrays, f"{key}.{i}") for i, v in enumerate(value)]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save state entry {key!r} of type {type(value).__name__}")


def _decode(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if "__array__" in value:
            return np.array(arrays[value["__array__"]])
        if "__rng__" in value:
            state = value["__rng__"]
            gen = np.random.Generator(getattr(np.random, state["bit_generator"])())
            gen.bit_generator.state = state
            return gen
        if "__dict__" in value:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def save(path: str | os.PathLike, *, kind: str, name: str, params: dict, state: dict) -> Path:
    """Write ``params`` (hyper-parameters) and ``state`` (learned) to ``path``."""
    from recloop._version import __version__

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    arrays: dict[str, np.ndarray] = {}
    meta = {
        "format": FORMAT_VERSION,
        "recloop_version": __version__,
        "kind": kind,
        "name": name,
        "params": _encode(params, arrays, "params"),
        "state": {k: _encode(v, arrays, k) for k, v in state.items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __meta__=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]  # numpy's stub types the kwds as allow_pickle
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | os.PathLike) -> dict:
    """Read a file written by :func:`save`; returns ``{"kind", "name", "params", "state", ...}``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved model at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            arrays = {k: data[k] for k in data.files if k != "__meta__"}
    except (ValueError, KeyError, OSError) as err:
        raise ValueError(f"{path} is not a recloop model file: {err}") from err
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported model file format {meta.get('format')!r}")
    meta["params"] = _decode(meta["params"], arrays)
    meta["state"] = {k: _decode(v, arrays) for k, v in meta["state"].items()}
    return meta
