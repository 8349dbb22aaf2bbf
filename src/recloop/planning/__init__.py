"""Planning in finite MDPs with a known model: value and policy iteration.

Pure numpy and below the environments, so a world can compute its own truth
(optimal values, an optimal policy) without importing a learner.
"""

from recloop.planning.policy_iteration import evaluate_policy, policy_iteration
from recloop.planning.value_iteration import PlanningResult, check_model, q_values, value_iteration

__all__ = ["PlanningResult", "check_model", "evaluate_policy", "policy_iteration", "q_values", "value_iteration"]
