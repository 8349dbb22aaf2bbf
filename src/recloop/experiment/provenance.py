"""What produced a run folder: ``meta.json`` beside the results, so a number can be traced back.

It records recloop's version, the git revision of recloop's source (and of the folder the
command ran in) when there is one, the versions of the packages results depend on, the
machine, and the command line. ``recloop run``, ``sweep`` and ``train`` all write it.

Example:
    >>> meta = run_metadata(["recloop", "run", "x.yaml"])
    >>> meta["command"], sorted(meta)
    ('recloop run x.yaml', ['argv', 'command', 'cwd', 'git', 'machine', 'packages', 'recloop_version', 'started_utc'])
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

# Packages whose versions change numbers; any that is installed is recorded.
PACKAGES = ("numpy", "scipy", "gymnasium", "torch", "pydantic", "pyarrow", "matplotlib", "typer", "ray",
            "minatar", "ale-py", "fastapi", "sqlalchemy", "mlflow-skinny", "mlflow", "stable-baselines3")


def git_revision(folder: str | os.PathLike) -> dict[str, Any] | None:
    """``{"commit", "dirty", "root"}`` of the git work tree holding ``folder``; None outside one."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        root = git("rev-parse", "--show-toplevel")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty, "root": root}


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine() -> dict[str, Any]:
    return {"hostname": platform.node(), "platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "implementation": platform.python_implementation()}


def run_metadata(argv: list[str] | None = None) -> dict[str, Any]:
    """Everything :func:`write_metadata` records, as a dict."""
    import recloop

    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = re.sub(r".*[/\\]", "", argv[0])  # `recloop`, not the venv's absolute path
    source = Path(recloop.__file__).resolve().parent
    here = git_revision(Path.cwd())
    return {
        "recloop_version": recloop.__version__,
        "command": shlex.join(argv),
        "argv": argv,
        "cwd": str(Path.cwd()),
        "started_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git": {"recloop": git_revision(source), "cwd": here},
        "packages": package_versions(),
        "machine": machine(),
    }


def write_metadata(out_dir: str | os.PathLike, argv: list[str] | None = None, **extra: Any) -> Path:
    """Write ``meta.json`` into ``out_dir`` (``extra`` keys are added, e.g. the seed)."""
    path = Path(out_dir) / "meta.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**run_metadata(argv), **extra}, indent=2, default=str) + "\n")
    return path
