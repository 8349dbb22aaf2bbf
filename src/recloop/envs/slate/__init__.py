"""RecSim-style slate simulators: users, documents, choice models; vectorised over users."""

from recloop.envs.slate.base import SlateEnv, SlateSpace, SlateVectorEnv, check_slates
from recloop.envs.slate.choice import Cascade, ChoiceModel, MultinomialLogit, MultinomialProportional, choice_model
from recloop.envs.slate.documents import ClickbaitDocumentSampler, ClusterDocumentSampler
from recloop.envs.slate.interest_evolution import (InterestEvolution, InterestEvolutionUserModel,
                                                   InterestEvolutionVectorEnv)
from recloop.envs.slate.long_term_satisfaction import (MEANINGFUL, RECSIM_DEFAULTS, LongTermSatisfaction,
                                                       LongTermSatisfactionVectorEnv)

__all__ = [
    "Cascade", "ChoiceModel", "ClickbaitDocumentSampler", "ClusterDocumentSampler", "InterestEvolution",
    "InterestEvolutionUserModel", "InterestEvolutionVectorEnv", "LongTermSatisfaction",
    "LongTermSatisfactionVectorEnv", "MEANINGFUL", "RECSIM_DEFAULTS", "MultinomialLogit", "MultinomialProportional",
    "SlateEnv", "SlateSpace", "SlateVectorEnv", "check_slates", "choice_model",
]
