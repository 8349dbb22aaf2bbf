"""Azure Personalizer's Python quick-start, unchanged but for the endpoint and key: run it against ``recloop serve``.

    RECLOOP_API_KEY=quickstart-key recloop serve --port 8000 &
    python examples/personalizer_quickstart.py --endpoint http://127.0.0.1:8000 --key quickstart-key

The application shows a food to a user at a time of day (the quick-start's world): it
sends the context and the actions to ``rank``, shows ``rewardActionId`` and sends a
reward of 1 when the simulated user likes it. Every 100 rounds it prints how often the
choice was right lately; it starts at chance (1 in 4) and climbs as the service learns.
"""

from __future__ import annotations

import argparse
import random

from azure.ai.personalizer import PersonalizerClient
from azure.core.credentials import AzureKeyCredential

ACTIONS = [
    {"id": "pasta", "features": [{"taste": "salty", "spiceLevel": "medium"}, {"nutritionLevel": 5, "cuisine": "italian"}]},
    {"id": "ice cream", "features": [{"taste": "sweet", "spiceLevel": "none"}, {"nutritionalLevel": 2}]},
    {"id": "juice", "features": [{"taste": "sweet", "spiceLevel": "none"}, {"nutritionLevel": 5}, {"drink": True}]},
    {"id": "salad", "features": [{"taste": "salty", "spiceLevel": "low"}, {"nutritionLevel": 8}]},
]
TIMES = ["morning", "afternoon", "evening", "night"]
TASTES = ["salty", "sweet"]
# What the simulated user likes: (time of day, taste preference) -> food
LIKES = {("morning", "salty"): "salad", ("morning", "sweet"): "juice",
         ("afternoon", "salty"): "pasta", ("afternoon", "sweet"): "ice cream",
         ("evening", "salty"): "pasta", ("evening", "sweet"): "ice cream",
         ("night", "salty"): "salad", ("night", "sweet"): "ice cream"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", default="http://127.0.0.1:8000")
    ap.add_argument("--key", default="quickstart-key")
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    client = PersonalizerClient(args.endpoint, AzureKeyCredential(args.key))
    right = 0
    for i in range(1, args.rounds + 1):
        time_of_day, taste = rnd.choice(TIMES), rnd.choice(TASTES)
        rank_request = {"contextFeatures": [{"timeOfDay": time_of_day}, {"tastePreference": taste}],
                        "actions": ACTIONS, "excludedActions": [], "eventId": f"quickstart-{args.seed}-{i}"}
        response = client.rank(rank_request)
        chosen = response["rewardActionId"]
        reward = 1.0 if LIKES[(time_of_day, taste)] == chosen else 0.0
        client.reward(response["eventId"], {"value": reward})
        right += int(reward)
        if i == 1:
            print(f"first rank: {response}")
        if i % 100 == 0:
            print(f"rounds {i - 99:4d}-{i:4d}: the user liked {right:3d} of 100 choices")
            right = 0


if __name__ == "__main__":
    main()
