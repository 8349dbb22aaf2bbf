"""Next-item recommenders trained on logged sequences: supervised baselines and RL recommenders.

Every model here meets :class:`~recloop.agents.reco.base.SequentialRecommender`: ``fit(split)``
on a :class:`~recloop.data.splits.SequentialSplit`, ``score(histories)`` over the full catalogue,
``recommend(context, candidates, k)`` with propensities, ``save`` / ``load``.
"""

from recloop.agents.reco.base import MODELS, SequentialRecommender, evaluate, load_recommender, make_recommender

__all__ = ["MODELS", "SequentialRecommender", "evaluate", "load_recommender", "make_recommender"]
