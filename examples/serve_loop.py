"""The whole loop on one laptop: serve LinUCB, play simulated users, watch CTR climb, roll back.

    python examples/serve_loop.py
"""

import asyncio
import tempfile

import httpx

from recloop.serve import ServeConfig, create_app
from recloop.serve.runner import BackgroundServer
from recloop.apps.traffic import SimulatedUsers, play

with tempfile.TemporaryDirectory() as tmp:
    app = create_app(ServeConfig(policy="linucb", n_features=16, db=f"sqlite:///{tmp}/loop.db", seed=0,
                                 insecure_admin=True))  # loopback demo: admin routes without a key
    with BackgroundServer(app) as url:
        users = SimulatedUsers("contextual", n_arms=20, n_features=16, seed=0)
        result = asyncio.run(play(url, 1000, users=users))
        print("CTR per 200 users:", [round(c, 2) for c in result.windows(200)])
        snap = httpx.post(f"{url}/v1/models/snapshot", json={}).json()
        print("snapshot", snap["version"], "holds rewards up to", snap["watermark"])
        httpx.post(f"{url}/v1/models/0/activate", json={})  # back to the untrained model
        print("after roll-back:", [round(c, 2) for c in asyncio.run(play(url, 400, users=users)).windows(200)])
