"""recloop: recommendation as the sequential decision problem it is.

Simulate users, learn policies, evaluate them offline, serve them online.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
