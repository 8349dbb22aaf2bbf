"""SARSA: on-policy TD control (Rummery & Niranjan, 1994; Sutton & Barto, 2nd ed., sec. 6.4).

The target uses the action the behaviour policy actually takes next,
``r + gamma * Q(s', a')``. It therefore learns the value of the epsilon-greedy
policy it follows, exploration included — on a cliff walk it prefers the safe
path away from the edge, where an exploratory step costs little.

When :meth:`update` is called without ``next_action``, the agent draws ``a'``
from its own policy and returns that same action on the next ``act(s')``, so a
generic act/step/update loop stays on-policy.

Examples
--------
>>> from recloop.agents.tabular import SARSA
>>> agent = SARSA(n_states=3, n_actions=2, gamma=0.5, alpha=1.0, epsilon=0.0, seed=0)
>>> agent.update(0, 1.0, 0, next_obs=1, next_action=1)   # target 1 + 0.5 * Q(1, 1) = 1
1.0
>>> float(agent.q_[0, 0])
1.0
"""

from __future__ import annotations

from recloop.agents.tabular.base import TabularAgent
from recloop.core.registry import register


@register("policy", "sarsa")
class SARSA(TabularAgent):
    """Tabular SARSA. See :class:`TabularAgent` for the parameters."""

    _needs_next_action = True

    def _next_value(self, s_next: int, a_next: int | None) -> float:
        if a_next is None:  # only reached from Dyna planning, which samples a' itself
            a_next = self._sample(s_next)
        return float(self.q_[s_next, a_next])
