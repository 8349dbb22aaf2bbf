"""The Open Bandit Dataset sample (Saito et al., NeurIPS 2021 datasets track) as logged feedback.

ZOZOTOWN logged fashion recommendations under two policies, uniform random
and Bernoulli Thompson sampling (BTS), in three campaigns; a 10,000-row
sample per policy x campaign ships inside the ``obp`` source distribution.
:func:`fetch_open_bandit_dataset` fetches that sdist once with pip (a package
registry, never the web at run time) and extracts the CSVs plus the BTS prior
into ``~/.cache/recloop/obd``; :func:`load_open_bandit_dataset` turns one CSV
into :class:`~recloop.data.logs.LoggedFeedback`.

Each row is one item shown at one of three positions; ``propensity`` is the
logging policy's probability of that item at that position. Context features:
one-hot user features plus the position (OBP's default pre-processing keeps
the user features; we add the position so reward models can see it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from recloop.data.logs import LoggedFeedback
from recloop.core.seeding import as_generator

OBP_VERSION = "0.5.7"
POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")


def cache_dir() -> Path:
    return Path(os.environ.get("RECLOOP_CACHE", Path.home() / ".cache" / "recloop")) / "obd"


def fetch_open_bandit_dataset(*, root: Path | None = None, sdist: Path | None = None) -> Path:
    """Make sure the OBD sample is in the cache; return its root (``<root>/{random,bts}/...``).

    ``sdist``: an already downloaded ``obp-0.5.7.tar.gz``; otherwise
    ``pip download --no-deps --no-binary :all: obp==0.5.7`` fetches it.
    """
    root = Path(root) if root is not None else cache_dir()
    if (root / "random" / "all" / "all.csv").exists() and (root / "prior_bts.yaml").exists():
        return root
    with tempfile.TemporaryDirectory() as tmp:
        if sdist is None:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python",
                   "--no-binary", ":all:", f"obp=={OBP_VERSION}", "-d", tmp, "-q"]
            done = subprocess.run(cmd, capture_output=True, text=True)
            found = sorted(Path(tmp).glob("obp-*.tar.gz"))
            if done.returncode != 0 or not found:
                raise RuntimeError(f"could not fetch the obp {OBP_VERSION} sdist with pip "
                                   f"(it carries the Open Bandit Dataset sample): {done.stderr.strip()[-500:]}")
            sdist = found[0]
        staging = Path(tmp) / "staging"
        with tarfile.open(sdist) as tar:
            wanted = [m for m in tar.getmembers()
                      if "/obp/dataset/obd/" in m.name or m.name.endswith("obp/policy/conf/prior_bts.yaml")]
            if not wanted:
                raise RuntimeError(f"{sdist} does not contain obp/dataset/obd/")
            tar.extractall(staging, members=wanted, filter="data")
        src = next(staging.glob("*/obp/dataset/obd"))
        root.parent.mkdir(parents=True, exist_ok=True)
        part = root.with_name(root.name + ".partial")
        shutil.rmtree(part, ignore_errors=True)
        shutil.copytree(src, part)
        shutil.copy(next(staging.glob("*/obp/policy/conf/prior_bts.yaml")), part / "prior_bts.yaml")
        shutil.rmtree(root, ignore_errors=True)
        part.rename(root)  # appears whole or not at all
    return root


def load_open_bandit_dataset(policy: str = "random", campaign: str = "all", *,
                             root: Path | None = None) -> LoggedFeedback:
    """Logged feedback of ``policy`` ("random" or "bts") in ``campaign`` ("all", "men", "women")."""
    from pyarrow import csv

    if policy not in POLICIES or campaign not in CAMPAIGNS:
        raise ValueError(f"policy must be one of {POLICIES} and campaign one of {CAMPAIGNS}; got {policy!r}, {campaign!r}")
    base = fetch_open_bandit_dataset(root=root)
    table = csv.read_csv(base / policy / campaign / f"{campaign}.csv")
    n_items = csv.read_csv(base / policy / campaign / "item_context.csv").num_rows
    ts = table.column("timestamp").to_numpy().astype("datetime64[us]")
    order = np.argsort(ts, kind="stable")
    col = {name: table.column(name).to_numpy()[order] for name in table.column_names if not name.startswith("user-item")}
    position = np.unique(col["position"], return_inverse=True)[1]
    onehots = []
    for name in sorted(k for k in col if k.startswith("user_feature")):
        codes = np.unique(col[name].astype(str), return_inverse=True)[1]
        onehots.append(np.eye(codes.max() + 1)[codes][:, 1:])  # drop the first level, as OBP does
    context = np.hstack(onehots + [np.eye(3)[position][:, 1:]])
    return LoggedFeedback.from_arrays(
        action=col["item_id"], reward=col["click"].astype(np.float64), propensity=col["propensity_score"],
        n_actions=n_items, context=context, event_id=np.arange(len(order)), timestamp=ts[order],
        position=position, policy_version=f"obd-{policy}-{campaign}",
    )


def bts_prior(campaign: str = "all", *, root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Beta(alpha, beta) parameters ZOZOTOWN's Bernoulli TS used (shipped with obp)."""
    import yaml

    with open(fetch_open_bandit_dataset(root=root) / "prior_bts.yaml") as fh:
        prior = yaml.safe_load(fh)[campaign]
    return np.asarray(prior["alpha"], dtype=np.float64), np.asarray(prior["beta"], dtype=np.float64)


def bts_position_probs(alpha: np.ndarray, beta: np.ndarray, *, n_positions: int = 3, n_sim: int = 100_000,
                       seed: int = 0) -> np.ndarray:
    """P(item k at position l) under Bernoulli TS ranking by posterior draws, ``(n_positions, K)``.

    Monte Carlo as in the OBP paper: draw theta ~ Beta(alpha, beta), show the
    top ``n_positions`` items by theta, count.
    """
    rng = as_generator(seed)
    counts = np.zeros((n_positions, len(alpha)))
    for chunk in np.array_split(np.arange(n_sim), max(1, n_sim // 20_000)):
        theta = rng.beta(alpha, beta, size=(len(chunk), len(alpha)))
        top = np.argsort(-theta, axis=1)[:, :n_positions]
        for pos in range(n_positions):
            counts[pos] += np.bincount(top[:, pos], minlength=len(alpha))
    return counts / n_sim
