"""d3rlpy's DiscreteCQL on a logged dataset from benchmarks/movielens_long_term.py (run in its venv).

Reads an .npz (obs (n, N, F), actions, rewards, terminated, truncated), trains DiscreteCQL on the
flattened observations with the settings given, and exports the greedy policy as TorchScript
(``save_policy``), which recloop's venv loads to play it in the simulator. Prints one JSON line.

    .bench-venvs/d3rlpy/bin/python benchmarks/peers/d3rlpy_cql.py data.npz policy.pt --steps 10000 --alpha 0.1
"""

import argparse
import json
import time

import d3rlpy
import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("data")
ap.add_argument("policy")
ap.add_argument("--steps", type=int, default=10_000)
ap.add_argument("--alpha", type=float, default=1.0)
ap.add_argument("--gamma", type=float, default=0.9)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--batch-size", type=int, default=64)
ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
ap.add_argument("--target-update-interval", type=int, default=500)
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()

torch.set_num_threads(1)
d3rlpy.seed(args.seed)
z = np.load(args.data)
obs = z["obs"].reshape(len(z["obs"]), -1).astype(np.float32)
n_actions = int(z["n_actions"])
dataset = d3rlpy.dataset.MDPDataset(obs, z["actions"].astype(np.int64), z["rewards"].astype(np.float32),
                                    z["terminated"].astype(np.float32), z["truncated"].astype(np.float32),
                                    action_space=d3rlpy.constants.ActionSpace.DISCRETE, action_size=n_actions)
cql = d3rlpy.algos.DiscreteCQLConfig(
    batch_size=args.batch_size, gamma=args.gamma, learning_rate=args.lr, alpha=args.alpha,
    target_update_interval=args.target_update_interval,
    encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=args.hidden)).create(device="cpu:0")
cpu = time.process_time()
cql.fit(dataset, n_steps=args.steps, n_steps_per_epoch=args.steps, show_progress=False,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(), save_interval=10**9)
train_cpu = time.process_time() - cpu
cql.save_policy(args.policy)
print(json.dumps({"peer": f"d3rlpy {d3rlpy.__version__} DiscreteCQL", "alpha": args.alpha, "steps": args.steps,
                  "train_cpu_s": train_cpu, "encoder": f"MLP {args.hidden} over the flattened {z['obs'].shape[1:]} features"}))
