"""Validate recloop's off-policy estimators against known truth; compare with OBP; run on real logs.

    .venv/bin/python benchmarks/ope_validation.py            # full run (100 reps; ~tens of minutes on 2 cores)
    .venv/bin/python benchmarks/ope_validation.py --quick    # 20 reps, n up to 10k (smoke)

Sections of the JSON (also written to benchmarks/results/ope_validation.json):

* ``bandit``: synthetic contextual bandit (10 actions, 5 features, Bernoulli
  rewards, reward model misspecified), behaviour softmax or epsilon-greedy,
  targets from close to far; per n and estimator: bias, RMSE, relative RMSE,
  normal-CI coverage (and bootstrap-CI coverage for n <= 10k) over repetitions,
  against the population value (1M-context Monte Carlo).
* ``slate``: additive slate world (3 positions x 5 items): same metrics, plus
  the bias t-statistic (bias / its standard error) to test unbiasedness of PI.
* ``obp``: Open Bandit Pipeline 0.5.7 (own venv, .bench-venvs/obp) on the *same*
  arrays: largest absolute difference per estimator, and time per call.
* ``obd``: Open Bandit Dataset sample: Bernoulli-TS CTR estimated from the
  uniform-random logs vs the CTR BTS logged itself; relative error per estimator,
  recloop and (where it runs) OBP's own end-to-end pipeline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from recloop.ope import doubly_robust as drm  # noqa: E402
from recloop.ope import evaluate_all, estimate_q, ips  # noqa: E402
from recloop.ope.estimate import UnsupportedActionWarning  # noqa: E402
from recloop.ope.intervals import bootstrap_mean  # noqa: E402
from recloop.ope.synthetic import (  # noqa: E402
    AdditiveSlateWorld, ContextualWorld, epsilon_greedy_policy, softmax_policy,
)
from recloop.ope.weighting import snips  # noqa: E402



def _bootstrap_parts(logs, pe: np.ndarray, q: np.ndarray) -> dict:
    """IPS, SNIPS and DR as (numerator, denominator) per-event terms for the vectorised bootstrap."""
    idx = np.arange(logs.n)
    w = pe[idx, logs.action] / logs.propensity
    dr_terms = np.sum(pe * q, axis=1) + w * (logs.reward - q[idx, logs.action])
    return {"ips": (w * logs.reward, None), "snips": (w * logs.reward, w), "dr": (dr_terms, None)}


def summarise(values: np.ndarray, lows: np.ndarray, highs: np.ndarray, truth: float) -> dict:
    err = values - truth
    ok = np.isfinite(values)
    return {
        "bias": float(np.nanmean(err)), "rmse": float(np.sqrt(np.nanmean(err**2))),
        "relative_rmse": float(np.sqrt(np.nanmean(err**2)) / abs(truth)),
        "bias_t": float(np.nanmean(err) / (np.nanstd(err, ddof=1) / np.sqrt(ok.sum()))) if ok.sum() > 1 else None,
        "coverage": float(np.mean((lows <= truth) & (truth <= highs))),
        "mean_ci_width": float(np.nanmean(highs - lows)), "reps": int(ok.sum()),
    }


def bandit_section(reps: int, sizes: list[int], boot_max_n: int, n_boot: int, seed: int) -> dict:
    world = ContextualWorld(n_actions=10, n_features=5, seed=seed)
    behaviours = {
        "softmax": softmax_policy(world, temperature=0.2, noise=1.0, seed=seed + 1),
        "epsilon_greedy": epsilon_greedy_policy(world, epsilon=0.3, noise=1.0, seed=seed + 1),
    }
    # close -> far from the behaviour: a less noisy copy, a sharper one, a near-greedy one on the truth
    targets = {
        "close": softmax_policy(world, temperature=0.2, noise=0.7, seed=seed + 2),
        "medium": softmax_policy(world, temperature=0.1, noise=0.3, seed=seed + 3),
        "far": epsilon_greedy_policy(world, epsilon=0.05, noise=0.0),
    }
    truths = {k: world.value(t) for k, t in targets.items()}
    out: dict = {"setting": {"n_actions": 10, "n_features": 5, "reward": "Bernoulli, q = sigmoid(linear + 0.5 sin)",
                             "reward_model": "per-action L2 logistic regression (misspecified)",
                             "truth": truths, "reps": reps, "n_boot": n_boot,
                             "bootstrap": f"ips/snips/dr, softmax behaviour, n <= {boot_max_n}"}}
    for bname, beh in behaviours.items():
        for n in sizes:
            rows: dict = {t: {} for t in targets}
            t0 = time.perf_counter()
            for rep in range(reps):
                logs = world.logs(beh, n, seed=10_000 * n + rep)
                q = estimate_q(logs.context, logs.action, logs.reward, logs.n_actions)
                for tname, target in targets.items():
                    pe = target(logs.context)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UnsupportedActionWarning)
                        ests = evaluate_all(logs, pe, q_hat=q, max_weight=50.0, seed=rep)
                        for e in ests:
                            rows[tname].setdefault(e.estimator, []).append((e.value, e.ci_low, e.ci_high, np.nan, np.nan))
                    if n <= boot_max_n and bname == "softmax":
                        for name, (num, den) in _bootstrap_parts(logs, pe, q).items():
                            lo_b, hi_b = bootstrap_mean(num, den, n_boot=n_boot, seed=rep)
                            v, lo, hi, _, _ = rows[tname][name][-1]
                            rows[tname][name][-1] = (v, lo, hi, lo_b, hi_b)
            for tname in targets:
                res = {}
                for est, vals in rows[tname].items():
                    arr = np.array(vals)
                    res[est] = summarise(arr[:, 0], arr[:, 1], arr[:, 2], truths[tname])
                    if np.isfinite(arr[:, 3]).all():
                        res[est]["bootstrap_coverage"] = float(np.mean((arr[:, 3] <= truths[tname]) & (truths[tname] <= arr[:, 4])))
                out[f"{bname}/{tname}/n={n}"] = res
            out[f"{bname}/n={n}/seconds"] = time.perf_counter() - t0
            print(f"bandit {bname} n={n}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return out


def slate_section(reps: int, sizes: list[int], seed: int) -> dict:
    world = AdditiveSlateWorld(n_positions=3, n_actions=5, n_features=3, seed=seed)
    behaviour = world.policy(temperature=0.5, noise=0.3, seed=seed + 1)
    targets = {"close": world.policy(temperature=0.4, noise=0.3, seed=seed + 2),
               "far": world.policy(temperature=0.15, noise=0.0, seed=seed + 3)}
    truths = {k: world.value(t) for k, t in targets.items()}
    out: dict = {"setting": {"positions": 3, "items": 5, "reward": "sum of per-position clicks (additive)",
                             "truth": truths, "reps": reps}}
    for n in sizes:
        rows: dict = {t: {} for t in targets}
        for rep in range(reps):
            logs = world.logs(behaviour, n, seed=20_000 * n + rep)
            for tname, target in targets.items():
                for e in evaluate_all(logs, target(logs.context)):
                    rows[tname].setdefault(e.estimator, []).append((e.value, e.ci_low, e.ci_high))
        for tname in targets:
            out[f"{tname}/n={n}"] = {est: summarise(*np.array(v).T, truths[tname]) for est, v in rows[tname].items()}
    return out


def obp_section(reps: int, n: int, seed: int, obd_root: Path | None) -> dict:
    venv_py = ROOT / ".bench-venvs" / "obp" / "bin" / "python"
    if not venv_py.exists():
        setup = subprocess.run(["bash", str(ROOT / "benchmarks" / "peers" / "obp.sh")], capture_output=True, text=True)
        if setup.returncode != 0:
            return {"error": f"could not install obp 0.5.7: {setup.stderr.strip()[-800:]}"}
    world = ContextualWorld(n_actions=10, n_features=5, seed=seed)
    behaviour = softmax_policy(world, temperature=0.2, noise=1.0, seed=seed + 1)
    target = softmax_policy(world, temperature=0.1, noise=0.3, seed=seed + 3)
    arrays, ours = {}, {}
    for rep in range(reps):
        logs = world.logs(behaviour, n, seed=777 + rep)
        pe = target(logs.context)
        q = estimate_q(logs.context, logs.action, logs.reward, logs.n_actions)
        c = f"rep{rep}"
        arrays.update({f"{c}/reward": logs.reward, f"{c}/action": logs.action, f"{c}/pscore": logs.propensity,
                       f"{c}/position": np.zeros(n, dtype=np.int64), f"{c}/action_dist": pe[:, :, None],
                       f"{c}/q_hat": q[:, :, None]})
        args = (logs.reward, logs.action, logs.propensity, pe)
        calls = {"ips": lambda: ips(*args), "snips": lambda: snips(*args), "dm": lambda: drm.dm(*args, q),
                 "dr": lambda: drm.dr(*args, q), "sndr": lambda: drm.sndr(*args, q),
                 "switch_dr@10": lambda: drm.switch_dr(*args, q, tau=10.0), "dr_os@10": lambda: drm.dr_os(*args, q, lam=10.0)}
        row = {}
        for name, call in calls.items():
            t0 = time.perf_counter()
            value = call().value
            row[name] = {"value": value, "seconds": time.perf_counter() - t0}
        ours[c] = row
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "cases.npz", **arrays)
        cmd = [str(venv_py), str(ROOT / "benchmarks" / "peers" / "obp_estimates.py"), f"{tmp}/cases.npz", f"{tmp}/out.json"]
        if obd_root is not None:
            cmd.append(str(obd_root))
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            return {"error": f"obp run failed: {done.stderr.strip()[-1500:]}"}
        peer = json.loads((Path(tmp) / "out.json").read_text())
    out: dict = {"obp_version": peer["obp_version"], "n": n, "reps": reps, "peer_process_seconds": time.perf_counter() - t0,
                 "note": "same arrays (logs, target probabilities, reward-model predictions) into both libraries"}
    for name in ours["rep0"]:
        diffs = [abs(ours[c][name]["value"] - peer["cases"][c][name]["value"]) for c in ours]
        t_ours = np.median([ours[c][name]["seconds"] for c in ours])
        t_obp = np.median([peer["cases"][c][name]["seconds"] for c in ours])
        out[name] = {"max_abs_difference": float(max(diffs)), "median_seconds_recloop": float(t_ours),
                     "median_seconds_obp": float(t_obp), "obp_over_recloop_time": float(t_obp / t_ours)}
    if "obd" in peer:
        out["obd_pipeline"] = peer["obd"]
    if "obd_error" in peer:
        out["obd_error"] = peer["obd_error"]
    return out


def obd_section(seed: int) -> tuple[dict, Path | None]:
    from recloop.data.obd import bts_position_probs, bts_prior, fetch_open_bandit_dataset, load_open_bandit_dataset

    try:
        root = fetch_open_bandit_dataset()
    except Exception as err:  # no registry access: say so
        return {"error": f"{type(err).__name__}: {err}"}, None
    out: dict = {"source": "obp 0.5.7 sdist, obp/dataset/obd (10,000 rows per policy x campaign)",
                 "truth": "mean click of the BTS logs (on-policy)", "target": "BTS with the ZOZOTOWN prior, 100k draws"}
    for campaign in ("all", "men", "women"):
        random_logs = load_open_bandit_dataset("random", campaign)
        truth = float(load_open_bandit_dataset("bts", campaign).reward.mean())
        alpha, beta = bts_prior(campaign)
        pe = bts_position_probs(alpha, beta, n_sim=100_000, seed=seed)[random_logs.position]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnsupportedActionWarning)
            ests = evaluate_all(random_logs, pe, n_folds=3, seed=seed)
        out[campaign] = {"truth": truth, "random_policy_ctr": float(random_logs.reward.mean()),
                         "estimates": {e.estimator: {"value": e.value, "relative_error": abs(e.value - truth) / truth,
                                                     "ci": [e.ci_low, e.ci_high], "covers": bool(e.ci_low <= truth <= e.ci_high)}
                                       for e in ests}}
    return out, root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--quick", action="store_true", help="20 reps, n = 1k and 10k")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--no-obp", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ope_validation.json"))
    args = ap.parse_args()
    reps = 20 if args.quick else args.reps
    sizes = [1000, 10000] if args.quick else [int(s) for s in args.sizes.split(",")]
    t0 = time.perf_counter()
    result: dict = {"benchmark": "ope_validation", "machine": "2 shared cores (timings noisy)", "reps": reps, "sizes": sizes}
    result["bandit"] = bandit_section(reps, sizes, boot_max_n=10_000, n_boot=args.n_boot, seed=args.seed)
    result["slate"] = slate_section(reps, [s for s in sizes if s <= 10_000], seed=args.seed)
    result["obd"], obd_root = obd_section(args.seed)
    if not args.no_obp:
        result["obp"] = obp_section(min(reps, 20), 10_000, args.seed, obd_root)
    std = result["bandit"].get("softmax/medium/n=10000", {})
    result["goals"] = {
        "dr_relative_rmse_at_10k_standard(softmax behaviour, medium target) <= 0.05":
            std.get("dr", {}).get("relative_rmse"),
        "normal_coverage_at_10k_standard": {k: v["coverage"] for k, v in std.items()},
        "pi_bias_t_additive_slate": {k: v["pseudo_inverse"]["bias_t"] for k, v in result["slate"].items() if k != "setting"},
    }
    result["seconds"] = time.perf_counter() - t0
    text = json.dumps(result, indent=1, default=float)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
