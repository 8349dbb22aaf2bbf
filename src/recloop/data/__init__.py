"""Datasets and logged feedback: loaders, the logged-feedback schema, local caches."""
