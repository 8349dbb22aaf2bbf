"""Metrics in the field's words: regret and rewards (bandits); ranking metrics (offline evaluation).

All are plain functions over numpy arrays.
"""

from __future__ import annotations

import numpy as np


def cumulative_regret(optimal_expected: np.ndarray, chosen_expected: np.ndarray) -> np.ndarray:
    """Pseudo-regret: running sum of (best expected reward - expected reward of the choice)."""
    gap = np.asarray(optimal_expected, dtype=np.float64) - np.asarray(chosen_expected, dtype=np.float64)
    return np.cumsum(gap)


# --- ranking metrics (offline evaluation of recommenders) live below ---
