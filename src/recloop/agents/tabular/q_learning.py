"""Q-learning (Watkins, 1989; Watkins & Dayan, 1992), with optional Dyna-Q planning (Sutton, 1990).

Off-policy TD control: the target uses the greedy value of the next state,
``r + gamma * max_a' Q(s', a')``, whatever the behaviour policy does next. So
it learns the optimal policy's values while exploring — and on a cliff walk it
learns the shortest path along the edge, even though epsilon-greedy exploration
makes that path costly to *follow* (Sutton & Barto, 2nd ed., Example 6.6).

Examples
--------
>>> from recloop.agents.tabular import QLearning
>>> from recloop.envs.gridworld import Maze
>>> env = Maze("corridor")
>>> agent = QLearning(env.n_states, env.n_actions, gamma=0.9, alpha=0.5, epsilon=0.2, seed=0)
>>> curve = agent.learn(env, episodes=200, seed=0)
>>> agent.act(env.start_state, explore=False)   # 1 = right, towards the goal
1
"""

from __future__ import annotations

from recloop.agents.tabular.base import TabularAgent
from recloop.core.registry import register


@register("policy", "q-learning", "qlearning", "q_learning", "dyna-q")
class QLearning(TabularAgent):
    """Tabular Q-learning; ``planning_steps > 0`` makes it Dyna-Q. See :class:`TabularAgent`."""

    def _next_value(self, s_next: int, a_next: int | None) -> float:
        return float(self.q_[s_next].max())
