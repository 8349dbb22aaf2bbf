"""Datasets and logged feedback: loaders, the logged-feedback schema, readers, the featuriser, local caches."""

from recloop.data.features import Featuriser
from recloop.data.logs import LoggedFeedback
from recloop.data.read import LogSpec, read_logs

__all__ = ["Featuriser", "LogSpec", "LoggedFeedback", "read_logs"]
