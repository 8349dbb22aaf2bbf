"""Expected SARSA (van Seijen et al., 2009, "A theoretical and empirical analysis of Expected Sarsa").

The target averages over the next action under the current epsilon-greedy
policy, ``r + gamma * sum_a' pi(a'|s') Q(s', a')``: SARSA's on-policy values
without the variance of sampling ``a'``, so it tolerates larger step sizes.
With epsilon = 0 it is Q-learning.

Examples
--------
>>> from recloop.agents.tabular import ExpectedSARSA
>>> agent = ExpectedSARSA(n_states=2, n_actions=2, gamma=1.0, alpha=1.0, epsilon=0.5, seed=0)
>>> agent.q_[1] = [0.0, 2.0]
>>> agent.update(0, 0.0, 0, next_obs=1)   # 0.25 * 0 + 0.75 * 2
1.5
"""

from __future__ import annotations

import numpy as np

from recloop.agents.tabular.base import TabularAgent
from recloop.core.registry import register


@register("policy", "expected-sarsa", "expected_sarsa", "expectedsarsa")
class ExpectedSARSA(TabularAgent):
    """Tabular Expected SARSA. See :class:`TabularAgent` for the parameters."""

    def _next_value(self, s_next: int, a_next: int | None) -> float:
        p = self._probs(s_next, np.arange(self.n_actions), self.exploration_rate)
        return float(p @ self.q_[s_next])
