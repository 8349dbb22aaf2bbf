"""Tabular reinforcement learning: planning with a known model, TD control without one.

- :func:`value_iteration`, :func:`policy_iteration` — solve a finite MDP given ``(P, R)``.
- :class:`QLearning` (+ Dyna-Q), :class:`SARSA`, :class:`ExpectedSARSA` — learn
  from interaction; the Policy protocol (``act``, exact ``probabilities``, ``update``,
  ``recommend``, ``save``/``load``) with epsilon and step-size schedules.
"""

from recloop.agents.tabular.base import TabularAgent
from recloop.agents.tabular.expected_sarsa import ExpectedSARSA
from recloop.agents.tabular.learning import EpisodeEnd, LearningCurve, evaluate, learn
from recloop.planning.policy_iteration import evaluate_policy, policy_iteration
from recloop.agents.tabular.q_learning import QLearning
from recloop.agents.tabular.sarsa import SARSA
from recloop.planning.value_iteration import PlanningResult, q_values, value_iteration

__all__ = [
    "EpisodeEnd",
    "ExpectedSARSA",
    "LearningCurve",
    "PlanningResult",
    "QLearning",
    "SARSA",
    "TabularAgent",
    "evaluate",
    "evaluate_policy",
    "learn",
    "policy_iteration",
    "q_values",
    "value_iteration",
]
