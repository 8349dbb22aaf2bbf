"""Slate recommendation agents: SlateQ and its baselines (torch for the learned ones).

Registered as policies: ``slateq``, ``myopic-slate``, ``full-slate-dqn``,
``random-slate``, ``popularity-slate``.
"""

from recloop.agents.slate.base import SlateDecision, SlatePolicy
from recloop.agents.slate.baselines import Popularity, RandomSlate
from recloop.agents.slate.full_slate_dqn import FullSlateDQN
from recloop.agents.slate.myopic import MyopicGreedy
from recloop.agents.slate.slateq import SlateQ
from recloop.agents.slate.slates import best_slates, enumerate_slates, row_slate_values, slate_values
from recloop.agents.slate.training import evaluate, train

__all__ = ["FullSlateDQN", "MyopicGreedy", "Popularity", "RandomSlate", "SlateDecision", "SlatePolicy", "SlateQ",
           "best_slates", "enumerate_slates", "evaluate", "row_slate_values", "slate_values", "train"]
