"""Shared vocabulary: records, the Policy protocol, seeding, schedules, the registry."""

from recloop.core.registry import make, names, register
from recloop.core.seeding import as_generator
from recloop.core.types import Feedback, Recommendation

__all__ = ["Feedback", "Recommendation", "as_generator", "make", "names", "register"]
