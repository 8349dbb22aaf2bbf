"""Policies that learn: bandits, tabular RL, deep RL."""
