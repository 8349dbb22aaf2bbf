"""Bandit policies: learn which items are good while losing as little as possible.

Every policy has both faces of the Policy protocol (see DESIGN.md): ``act`` /
``probabilities`` / ``update`` over arm indices for simulation, and
``recommend(context, candidates, k)`` over item ids for serving.
"""

from recloop.agents.bandits.base import BanditPolicy
from recloop.agents.bandits.epsilon_greedy import EpsilonGreedy
from recloop.agents.bandits.exp3 import EXP3
from recloop.agents.bandits.gittins import GittinsIndex, gittins_index
from recloop.agents.bandits.hybrid_linucb import HybridLinUCB
from recloop.agents.bandits.linucb import LinTS, LinUCB
from recloop.agents.bandits.neural import NeuralLinear  # torch is imported only when one is built
from recloop.agents.bandits.offpolicy import OffPolicySoftmax
from recloop.agents.bandits.nonstationary import DiscountedThompsonSampling, DiscountedUCB, SlidingWindowUCB
from recloop.agents.bandits.random import UniformRandom
from recloop.agents.bandits.softmax import Softmax
from recloop.agents.bandits.thompson import ThompsonSampling
from recloop.agents.bandits.ucb import KLUCB, UCB1

__all__ = [
    "BanditPolicy", "DiscountedThompsonSampling", "DiscountedUCB", "EXP3", "EpsilonGreedy", "GittinsIndex", "HybridLinUCB",
    "KLUCB", "LinTS", "LinUCB", "NeuralLinear", "OffPolicySoftmax", "SlidingWindowUCB", "Softmax", "ThompsonSampling", "UCB1", "UniformRandom",
    "gittins_index",
]
