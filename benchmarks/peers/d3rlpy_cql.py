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
ap.add_argument("--encoder", choices=("candidates", "mlp"), default="candidates",
                help="candidates: one MLP shared over the candidate rows (recloop's network); mlp: d3rlpy's "
                     "VectorEncoder over the flattened features")
args = ap.parse_args()


class CandidateEncoder(torch.nn.Module):
    """The same network as recloop's CandidateQNetwork: one MLP scores each candidate row; d3rlpy's
    discrete Q head (a linear layer from these N scores to N actions) sits on top."""

    def __init__(self, n_candidates: int, n_features: int, hidden: list[int]):
        super().__init__()
        layers, width = [], n_features
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        self.body = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1))
        self.n_candidates, self.n_features = n_candidates, n_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.view(-1, self.n_candidates, self.n_features)).squeeze(-1)


from dataclasses import dataclass, field  # noqa: E402


@dataclass()
class CandidateEncoderFactory(d3rlpy.models.encoders.EncoderFactory):
    n_candidates: int = 20
    n_features: int = 14
    hidden_units: list = field(default_factory=lambda: [64, 64])

    def create(self, observation_shape):
        return CandidateEncoder(self.n_candidates, self.n_features, self.hidden_units)

    @staticmethod
    def get_type() -> str:
        return "recloop_candidates"


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
    encoder_factory=(CandidateEncoderFactory(z["obs"].shape[1], z["obs"].shape[2], args.hidden)
                     if args.encoder == "candidates" else
                     d3rlpy.models.VectorEncoderFactory(hidden_units=args.hidden))).create(device="cpu:0")
cpu = time.process_time()
cql.fit(dataset, n_steps=args.steps, n_steps_per_epoch=args.steps, show_progress=False,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(), save_interval=10**9)
train_cpu = time.process_time() - cpu
cql.save_policy(args.policy)
print(json.dumps({"peer": f"d3rlpy {d3rlpy.__version__} DiscreteCQL", "alpha": args.alpha, "steps": args.steps,
                  "train_cpu_s": train_cpu, "encoder": (f"MLP {args.hidden} shared over the {z['obs'].shape[1]} candidate rows, then d3rlpy's linear Q head"
                              if args.encoder == "candidates" else
                              f"d3rlpy's MLP {args.hidden} over the flattened {z['obs'].shape[1:]} features")}))
