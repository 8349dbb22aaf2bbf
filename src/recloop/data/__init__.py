"""Datasets: MovieLens loaders and evaluation splits (logged-feedback files live beside them)."""
