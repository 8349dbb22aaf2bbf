"""Run inside the RecSim virtualenv: step Google RecSim's interest-evolution env with random
slates for a while; print JSON (steps/s through the gym wrapper and the raw simulator, and the
mean episode return of random slates, a faithfulness check for recloop's port)."""

import json
import sys
import time

import numpy as np
from recsim.environments import interest_evolution


def main(seconds: float, seed: int) -> None:
    cfg = {"num_candidates": 10, "slate_size": 2, "resample_documents": True, "seed": seed}
    env = interest_evolution.create_environment(cfg)
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # RecSim's choice model and interest update draw from numpy's global state
    out = {}
    for face, step in (("gym", env.step), ("simulator", env._environment.step)):
        env.reset()
        steps, episode, returns = 0, 0.0, []
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            res = step(rng.permutation(10)[:2])
            if face == "gym":
                reward, done = res[1], res[2]
            else:
                reward = interest_evolution.clicked_watchtime_reward(res[2])
                done = res[3]
            episode += reward
            steps += 1
            if done:
                returns.append(episode)
                episode = 0.0
                env.reset()
        dt = time.perf_counter() - t0
        out[face] = {"steps": steps, "seconds": round(dt, 3), "steps_per_s": steps / dt,
                     "random_episodes": len(returns), "random_mean_return": float(np.mean(returns)) if returns else None}
    print(json.dumps(out))


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]))
