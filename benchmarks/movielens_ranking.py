"""Next-item ranking on MovieLens-100k: every recloop recommender vs RecBole's GRU4Rec / SASRec.

Protocol (RecBole's): all ratings as implicit interactions, chronological leave-one-out (last =
test, second-to-last = validation), full ranking over all 1682 items, history <= 50. Metrics
HR@10, NDCG@10, MRR@10, coverage@10 on the 943 test users, mean +/- sd over seeds. Reported
twice: as RecBole ranks (seen items may be recommended) and with each user's already-seen items
filtered out (nobody rates a film twice in ML-100k, so this is a free and common serving rule).

Equal budgets: every trainable model gets the same training budget in CPU seconds of its own
process (torch with one thread), RecBole's models included, so neighbours' load on a shared
machine does not tilt the comparison. Each trained model also plays --episodes episodes on the fitted
user simulator (``recloop.envs.movielens.MovieLensSimulator``): long-term return.

    .venv/bin/python benchmarks/movielens_ranking.py --budget 120 --seeds 0 1 2 --recbole-seeds 0 \
        --episodes 20 --workers 4

Several invocations with ``--append`` (e.g. one seed each, under the benchmark lock) merge into
one JSON; ``--render`` rewrites the markdown table from the JSON without training anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MODELS = ["pop", "itemknn", "bpr", "gru4rec", "sasrec", "sqn", "topk-reinforce", "ddpg", "td3"]
RL = {"sqn", "topk-reinforce", "ddpg", "td3"}
RECBOLE = ["Pop", "GRU4Rec", "SASRec"]


def play_episode(model, sim, seed: int) -> dict:
    """One episode in which ``model`` greedily recommends its best not-yet-shown item (``None``:
    random scores). Returns the episode's ``return`` and ``steps``, and the sums over its
    recommendations of ``rating`` and ``boredom``."""
    _, info = sim.reset(seed=seed)
    taste = sim.predicted_ratings(sim.user)  # fixed for the episode: one MF product, not one a step
    shown: list[int] = []
    total, steps, rating, boredom, done = 0.0, 0, 0.0, 0.0, False
    while not done:
        s = model.score([info["history"]])[0] if model is not None else sim.np_random.random(sim.action_space.n)
        s = np.asarray(s, dtype=np.float64)
        s[shown] = -np.inf
        a = int(np.argmax(s))
        shown.append(a)
        rating += taste[a]
        boredom += sim.boredom()[a]
        _, r, term, trunc, info = sim.step(a)
        total, steps, done = total + r, steps + 1, term or trunc
    return {"return": total, "steps": steps, "rating": rating, "boredom": boredom}


def simulator_rollouts(model, sim, episodes: int, seed: int) -> dict:
    """Episodes in which the model greedily recommends its best not-yet-shown item.

    ``return``: mean episode return. Why it is what it is: ``steps`` (recommendations before the
    user leaves or the episode ends), and, over all recommendations, ``rating`` (the user's true
    predicted rating of the film; clicks need about ``sim.threshold``) and ``boredom`` (rating
    points lost to genre fatigue and repeats when it was shown)."""
    eps = [play_episode(model, sim, seed * 10_000 + ep) for ep in range(episodes)]
    steps = sum(e["steps"] for e in eps)
    return {"return": sum(e["return"] for e in eps) / episodes, "steps": steps / episodes,
            "rating": sum(e["rating"] for e in eps) / steps, "boredom": sum(e["boredom"] for e in eps) / steps}


def parse_model(spec: str) -> tuple[str, dict]:
    """``sqn`` or ``sqn[q_weight=0.1,gamma=0.9]`` -> (name, extra hyper-parameters)."""
    if "[" not in spec:
        return spec, {}
    name, rest = spec.rstrip("]").split("[", 1)
    extra = {}
    for kv in rest.split(","):
        k, v = kv.split("=")
        extra[k] = json.loads(v) if v[:1].isdigit() or v[:1] in "-[{" or v in ("true", "false") else v
    return name, extra


def run_one(spec: str, seed: int, budget: float, episodes: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from recloop.agents.reco import evaluate, make_recommender
    from recloop.data.movielens import load_movielens
    from recloop.data.splits import leave_one_out
    from recloop.envs.movielens import MovieLensSimulator

    ml = load_movielens()
    split = leave_one_out(ml)
    name, extra = parse_model(spec)
    params = ({} if name in ("pop", "itemknn") else {"seed": seed}) | extra
    wall, cpu = time.perf_counter(), time.process_time()
    model = make_recommender(name, **params).fit(split, time_budget_s=budget)
    out = {"model": spec, "seed": seed, "budget_cpu_s": budget, "load_before": os.getloadavg(), "valid": evaluate(model, split, "valid"), "train_cpu_s": time.process_time() - cpu,
           "train_wall_s": time.perf_counter() - wall, "epochs": len(getattr(model, "log_", [])),
           "test": evaluate(model, split, "test"), "test_seen_filtered": evaluate(model, split, "test", exclude_history=True)}
    sim = MovieLensSimulator(ml, split, seed=0)
    out.update({f"sim_{k}": v for k, v in simulator_rollouts(model, sim, episodes, seed).items()})
    out["load_after"] = os.getloadavg()
    return out


def run_recbole(model: str, seed: int, budget: float) -> dict:
    venv = ROOT / ".bench-venvs" / "recbole" / "bin" / "python"
    if not venv.exists():
        setup = subprocess.run(["bash", str(ROOT / "benchmarks/peers/recbole.sh")], cwd=ROOT, capture_output=True, text=True)
        if setup.returncode != 0:
            return {"model": f"recbole-{model}", "seed": seed, "error": f"venv setup failed: {setup.stderr[-500:]}"}
    from recloop.data.movielens import ensure_ml100k

    data = ensure_ml100k().parent
    wall = time.perf_counter()
    proc = subprocess.run([str(venv), str(ROOT / "benchmarks/peers/recbole_run.py"), model, "--seed", str(seed),
                           "--budget", str(budget), "--data", str(data)], capture_output=True, text=True,
                          cwd=tempfile.mkdtemp(prefix="recbole-run-"))  # RecBole writes log folders into cwd
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"model": f"recbole-{model}", "seed": seed, "error": proc.stderr[-800:]}
    out = json.loads(lines[-1])
    out["model"], out["train_wall_s"] = f"recbole-{model}", time.perf_counter() - wall
    return out


def sim_references(episodes: int) -> dict:
    """``simulator_rollouts`` of three references: random, greedy on taste alone, greedy on the truth."""
    from recloop.data.movielens import load_movielens
    from recloop.data.splits import leave_one_out
    from recloop.envs.movielens import MovieLensSimulator

    ml = load_movielens()
    split = leave_one_out(ml)
    sim = MovieLensSimulator(ml, split, seed=0)

    class Oracle:  # greedy on the simulator's true expected reward (an upper reference, myopic)
        def score(self, _hist):
            return [sim.expected_rewards()]

    class Taste:  # greedy on the user's true predicted rating, blind to boredom: what knowing tastes alone earns
        def score(self, _hist):
            return [sim.predicted_ratings(sim.user)]

    return {name: simulator_rollouts(policy, sim, episodes, 0)
            for name, policy in (("random", None), ("greedy-taste", Taste()), ("greedy-oracle", Oracle()))}


def summarise(runs: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for r in runs:
        if "error" in r:
            out.setdefault(r["model"], {})["error"] = r["error"]
            continue
        out.setdefault(r["model"], {}).setdefault("_runs", []).append(r)
    for entry in out.values():
        rs = entry.pop("_runs", [])
        if not rs:
            continue
        for proto in ("valid", "test", "test_seen_filtered"):
            if proto in rs[0]:
                # metrics every run has (runs from before a metric was added lack it)
                common = [m for m in rs[0][proto] if all(m in r[proto] for r in rs)]
                entry[proto] = {m: [float(np.mean([r[proto][m] for r in rs])), float(np.std([r[proto][m] for r in rs], ddof=1)) if len(rs) > 1 else 0.0]
                                for m in common}
        for key in ("sim_return", "sim_steps", "sim_rating", "sim_boredom", "train_cpu_s", "epochs", "budget_cpu_s"):
            if all(key in r for r in rs):
                entry[key] = [float(np.mean([r[key] for r in rs])), float(np.std([r[key] for r in rs], ddof=1)) if len(rs) > 1 else 0.0]
        entry["seeds"] = [r["seed"] for r in rs]
    return out


def markdown(summary: dict, args: argparse.Namespace, refs: dict) -> str:
    def cell(entry, proto, m):
        if proto not in entry:
            return "n/a"
        mean, sd = entry[proto][m]
        return f"{mean:.4f} ± {sd:.4f}"

    lines = ["Budget: the training CPU-seconds per model and seed in the `budget` column (one torch thread; "
             "RecBole checks it only after an epoch, so it may overrun - see `train CPU-s`), "
             "mean ± sd over the seeds listed per row; ML-100k, chronological leave-one-out, full ranking over 1682 items, 943 test users.", "",
             "| model | kind | budget | train CPU-s | HR@10 | NDCG@10 | MRR@10 | coverage@10 | NDCG@10 seen filtered | HR@10 seen filtered | sim return | epochs | seeds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in summary.items():
        if "error" in e and "test" not in e:
            lines.append(f"| {name} | - | failed: {e['error'].strip().splitlines()[-1][:80] if e['error'].strip() else '?'} |||||||||")
            continue
        base, extra = parse_model(name) if not name.startswith("recbole") else (name, {})
        kind = ("RecBole 1.2.1" if name.startswith("recbole") else
                "control: no RL loss" if base in RL and extra.get("q_weight") == 0 else
                "RL" if base in RL else "supervised")
        sim = f"{e['sim_return'][0]:.2f} ± {e['sim_return'][1]:.2f}" if "sim_return" in e else "n/a"
        ep = f"{e['epochs'][0]:.0f}" if "epochs" in e else "-"
        trained = e.get("epochs", [1])[0] > 0  # pop and item-kNN have nothing to train
        budget = f"{e['budget_cpu_s'][0]:g}" if "budget_cpu_s" in e and trained else "-"
        spent = f"{e['train_cpu_s'][0]:.0f}" if "train_cpu_s" in e else "-"
        lines.append(f"| {name} | {kind} | {budget} | {spent} | {cell(e, 'test', 'hr@10')} | {cell(e, 'test', 'ndcg@10')} | {cell(e, 'test', 'mrr@10')} "
                     f"| {cell(e, 'test', 'coverage@10')} | {cell(e, 'test_seen_filtered', 'ndcg@10')} "
                     f"| {cell(e, 'test_seen_filtered', 'hr@10')} | {sim} | {ep} | {','.join(map(str, e.get('seeds', [])))} |")
    if refs:
        taste = (f"greedy on the user's true rating, blind to boredom {refs['greedy-taste']:.2f}, "
                 if "greedy-taste" in refs else "")
        lines += ["", f"Simulator references ({args.episodes} episodes): random {refs['random']:.2f}, {taste}"
                      f"greedy on the true expected reward {refs['greedy-oracle']:.2f}."]
    return "\n".join(lines) + "\n"


def write_markdown(path: str, table: str, results: str) -> None:
    """The table, then whatever follows a ``## Reading the table`` heading already in the file
    (the hand-written reading of the numbers survives a re-run)."""
    target = Path(path)
    tail = ""
    if target.exists() and "\n## Reading the table" in target.read_text():
        tail = "\n## Reading the table" + target.read_text().split("\n## Reading the table", 1)[1]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("# MovieLens-100k ranking results\n\n"
                      "Produced by `benchmarks/movielens_ranking.py` (see docs/movielens.md for the protocol); the "
                      f"commands and load averages of each invocation are in `{_repo_path(results)}`.\n\n"
                      + table + tail)


def compare(runs: list[dict], first: str, second: str, metric: str = "ndcg@10") -> dict:
    """Test ``metric`` of two models over their seeds: means, the difference and Welch's t-test.

    Seeds are independent training runs, so the runs are two samples, not pairs; the one-sided
    p-value is for ``second`` scoring higher than ``first``. ``spread_p_two_sided`` is the
    Brown-Forsythe test (Levene's, centred on medians) of equal spread over the seeds.

    Runs of one model and seed from several invocations (``--also``) count once, as their mean:
    a seed fixes the initial weights and the data order, so its runs agree far more than two
    seeds do (GRU4Rec's seeds 0-11, three runs each: intraclass correlation 0.64), and counting
    them as separate samples would overstate n. (A mean of several runs varies less than one run,
    so the spread test then favours the model with more runs per seed.)"""
    from scipy import stats

    by_a, by_b = _runs_by_seed(runs, first, metric), _runs_by_seed(runs, second, metric)
    a, b = [float(np.mean(v)) for v in by_a.values()], [float(np.mean(v)) for v in by_b.values()]
    if len(a) < 2 or len(b) < 2:
        raise SystemExit(f"--compare needs >= 2 seeds of each model; got {len(a)} of {first!r}, {len(b)} of {second!r}")
    t = stats.ttest_ind(b, a, equal_var=False, alternative="greater")
    return {"metric": metric, first: {"mean": float(np.mean(a)), "sd": float(np.std(a, ddof=1)), "n": len(a),
                                      "runs": sum(map(len, by_a.values()))},
            second: {"mean": float(np.mean(b)), "sd": float(np.std(b, ddof=1)), "n": len(b),
                     "runs": sum(map(len, by_b.values()))},
            "difference": float(np.mean(b) - np.mean(a)),
            "standard_error": float(np.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))),
            "welch_t": float(t.statistic), "p_one_sided": float(t.pvalue),
            "spread_p_two_sided": float(stats.levene(a, b, center="median").pvalue)}


def _runs_by_seed(runs: list[dict], model: str, metric: str) -> dict[int, list[float]]:
    """Test ``metric`` of each finished run of ``model``, grouped by seed (in seed order)."""
    by_seed: dict[int, list[float]] = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        if r["model"] == model and "test" in r:
            by_seed.setdefault(r["seed"], []).append(r["test"][metric])
    return by_seed


def _repo_path(path: str) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=45.0, help="training CPU-seconds per model and seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--recbole", nargs="*", default=RECBOLE, help="RecBole models to run (none: skip)")
    ap.add_argument("--recbole-seeds", type=int, nargs="+", default=None, help="default: --seeds")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--append", action="store_true",
                    help="keep the runs already in --out (same model and seed: replaced) and re-summarise")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/movielens_ranking.json"))
    ap.add_argument("--markdown", default=str(ROOT / "docs/movielens_results.md"))
    ap.add_argument("--render", action="store_true", help="only rewrite --markdown from --out")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="only print, from --out, whether B's test NDCG@10 beats A's over the seeds (Welch's t-test)")
    ap.add_argument("--also", nargs="+", default=[], metavar="JSON",
                    help="with --compare: more result files whose runs join --out's (the same spec is the same model)")
    args = ap.parse_args()
    if args.compare:
        runs = [r for f in [args.out, *args.also] for r in json.loads(Path(f).read_text())["runs"]]
        print(json.dumps(compare(runs, *args.compare), indent=1))
        return
    if args.render:
        result = json.loads(Path(args.out).read_text())
        args.episodes = result["episodes"]
        write_markdown(args.markdown, markdown(result["summary"], args, result["simulator_references"]), args.out)
        return
    from recloop.data.movielens import ensure_ml100k

    ensure_ml100k()  # fetch/extract once, before workers race for it
    start, load_before = time.perf_counter(), os.getloadavg()
    with ProcessPoolExecutor(args.workers) as pool:
        # Seed-major order: the models of one seed run side by side, so a change in the machine's
        # load during the invocation falls on all models alike.
        jobs = [pool.submit(run_one, m, s, args.budget, args.episodes) for s in args.seeds for m in args.models]
        jobs += [pool.submit(run_recbole, m, s, args.budget) for m in args.recbole for s in (args.recbole_seeds or args.seeds)]
        refs_job = pool.submit(sim_references, args.episodes)
        runs = []
        partial = Path(args.out).with_suffix(".partial.jsonl")
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text("")
        for j in as_completed(jobs):  # each run is kept as it lands, so a cut-short run still reports
            r = j.result()
            runs.append(r)
            with partial.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
            print(json.dumps({k: r[k] for k in r if k in ("model", "seed", "test", "test_seen_filtered", "error") or k.startswith("sim_")}),
                  file=sys.stderr, flush=True)
        rollouts = refs_job.result()
        refs = {name: r["return"] for name, r in rollouts.items()}
    invocation = {"command": shlex.join(["benchmarks/movielens_ranking.py", *sys.argv[1:]]), "load_before": load_before,
                  "load_after": os.getloadavg(), "wall_s": time.perf_counter() - start}
    invocations = [invocation]
    if args.append and Path(args.out).exists():
        new = {(r["model"], r["seed"]) for r in runs}
        old = json.loads(Path(args.out).read_text())
        runs = [r for r in old["runs"] if (r["model"], r["seed"]) not in new] + runs
        refs = old.get("simulator_references", refs)
        rollouts = old.get("simulator_reference_rollouts", rollouts)
        invocations = old.get("invocations", []) + invocations
    names = [f"recbole-{m}" for m in RECBOLE] + MODELS + args.models
    order = {m: i for i, m in reversed(list(enumerate(names)))}
    runs.sort(key=lambda r: (order.get(r["model"], 99), r["seed"]))
    summary = summarise(runs)
    result = {"benchmark": "movielens_ranking", "budget_cpu_s": args.budget, "seeds": args.seeds,
              "recbole_seeds": args.recbole_seeds or args.seeds, "episodes": args.episodes,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
              "invocations": invocations, "simulator_references": refs,
              "simulator_reference_rollouts": rollouts, "summary": summary, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    write_markdown(args.markdown, markdown(summary, args, refs), args.out)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
