"""Run one RecBole 1.2.1 model on ML-100k under recloop's protocol, with a wall-clock budget.

Runs inside .bench-venvs/recbole (see recbole.sh), never in recloop's venv. Prints one JSON line:
{"model", "seed", "budget_s", "epochs", "train_s", "test": {"hr@10", "ndcg@10", "mrr@10", "coverage@10"}}.

    .bench-venvs/recbole/bin/python benchmarks/peers/recbole_run.py GRU4Rec --seed 0 --budget 90 \
        --data ~/.cache/recloop

Protocol (matches recloop.data.splits.leave_one_out): all ratings as implicit interactions,
chronological leave-one-out (LS valid_and_test, order TO), full ranking, history <= 50,
embedding 64, CE loss. The budget is checked after each epoch's validation (RecBole has no
mid-epoch hook); the best-validation checkpoint is then tested.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time

import numpy as np
import torch

# RecBole 1.2.1 predates two API changes; patch them here rather than pin old libraries:
# torch>=2.6 loads checkpoints with weights_only=True (RecBole's hold a Config object), and
# and numpy 2 removed np.float_, np.complex_, np.unicode_, which Config.compatibility_settings
# reads (to re-create np.float etc.) - so put those three back before RecBole is imported.
_load = torch.load
torch.load = lambda *a, **k: _load(*a, **{**k, "weights_only": False})
for alias, real in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
    if alias not in np.__dict__:
        setattr(np, alias, real)

from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.evaluator.collector import Collector  # noqa: E402
from recbole.utils import get_model, get_trainer, init_seed  # noqa: E402

_get_struct = Collector.get_data_struct


def _get_struct_ints_ok(self):
    # RecBole 1.2.1 calls .cpu() on every collected entry, but ItemCoverage stores the plain
    # int "data.num_items" -> AttributeError. Move tensors to CPU here; the original's own
    # .cpu() pass then only sees tensors... except the int, so hide it for that call.
    ints = {k: v for k, v in self.data_struct._data_dict.items() if not isinstance(v, torch.Tensor)}
    for k in ints:
        del self.data_struct._data_dict[k]
    out = _get_struct(self)
    for k, v in ints.items():
        self.data_struct._data_dict[k] = v
        out._data_dict[k] = v
    return out


Collector.get_data_struct = _get_struct_ints_ok


class _OutOfTime(Exception):
    pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=90.0)
    ap.add_argument("--data", required=True, help="folder holding ml-100k/ml-100k.inter")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lr = args.lr or {"GRU4Rec": 5e-3, "SASRec": 1e-3}.get(args.model, 1e-3)
    ckpt = tempfile.mkdtemp(prefix="recbole-ckpt-")
    cfg = {
        "data_path": args.data, "dataset": "ml-100k", "checkpoint_dir": ckpt,
        "load_col": {"inter": ["user_id", "item_id", "rating", "timestamp"]},
        "MAX_ITEM_LIST_LENGTH": 50, "embedding_size": 64, "hidden_size": 64, "loss_type": "CE",
        "train_neg_sample_args": None, "learning_rate": lr,
        "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["Hit", "NDCG", "MRR", "ItemCoverage"], "topk": [10], "valid_metric": "NDCG@10",
        "epochs": 10_000, "stopping_step": 10, "seed": args.seed, "reproducibility": True,
        "show_progress": False, "use_gpu": False, "device": "cpu", "worker": 0, "log_wandb": False,
        "state": "ERROR",
    }
    config = Config(model=args.model, dataset="ml-100k", config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    logging.disable(logging.INFO)
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    start = time.process_time()  # CPU seconds, as recloop's Budget: fair on a shared machine
    epochs = []

    def budget(epoch: int, score: float) -> None:
        epochs.append({"epoch": epoch, "valid_ndcg@10": float(score), "cpu_s": time.process_time() - start})
        if time.process_time() - start > args.budget:
            raise _OutOfTime

    try:
        trainer.fit(train, valid, saved=True, show_progress=False, verbose=False, callback_fn=budget)
    except _OutOfTime:
        pass
    train_s = time.process_time() - start

    def scores(res: dict) -> dict:
        res = {k.lower(): float(v) for k, v in res.items()}
        return {"hr@10": res["hit@10"], "ndcg@10": res["ndcg@10"], "mrr@10": res["mrr@10"],
                "coverage@10": res["itemcoverage@10"]}

    out = {"model": args.model, "seed": args.seed, "budget_cpu_s": args.budget, "lr": lr, "epochs": len(epochs),
           "train_cpu_s": train_s, "test": scores(trainer.evaluate(test, load_best_model=True, show_progress=False))}
    if hasattr(model, "ITEM_SEQ"):
        # Same trained model, ranking with the already-seen items removed (recloop's
        # "seen filtered" protocol); RecBole itself does not filter for sequential models.
        predict = model.full_sort_predict

        def filtered(interaction):
            s = predict(interaction).view(len(interaction), -1).clone()
            s.scatter_(1, interaction[model.ITEM_SEQ], float("-inf"))
            return s

        model.full_sort_predict = filtered
        out["test_seen_filtered"] = scores(trainer.evaluate(test, load_best_model=False, show_progress=False))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
