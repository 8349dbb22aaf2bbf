"""Document samplers: the candidate items a recommender may put on a slate.

A sampler turns a block of random words ``[users, num_candidates]`` (one word per
document, from :mod:`recloop.envs.slate.rng`) into document attributes, and says
what the agent observes of each document.
"""

from __future__ import annotations

import numpy as np

from recloop.envs.slate import rng


class ClusterDocumentSampler:
    """RecSim's ``UtilityModelVideoSampler`` (interest evolution).

    Each video belongs to one of ``num_clusters`` topics, drawn uniformly; its
    features are the one-hot topic vector. Quality ~ N(mean of its cluster,
    ``quality_std``); the first 70 % of clusters are "trashy" (means
    ``linspace(min_utility, 0)``), the rest "nutritious" (``linspace(0, max_utility)``):
    with 20 clusters, 14 means in [-3, 0] and 6 in [0, 3]. Videos last
    ``video_length`` minutes. (RecSim names the 0.1 a variance but uses it as the
    standard deviation; so do we.)
    """

    def __init__(self, *, num_clusters: int = 20, min_utility: float = -3.0, max_utility: float = 3.0,
                 trashy_fraction: float = 0.7, quality_std: float = 0.1, video_length: float = 4.0):
        if int(num_clusters) != num_clusters or num_clusters < 1:
            raise ValueError(f"num_clusters must be a positive integer, got {num_clusters!r}")
        if not min_utility <= 0 <= max_utility:
            raise ValueError(f"need min_utility <= 0 <= max_utility, got {min_utility}, {max_utility}")
        if not 0.0 <= trashy_fraction <= 1.0:
            raise ValueError(f"trashy_fraction must be in [0, 1], got {trashy_fraction!r}")
        if quality_std < 0 or video_length <= 0:
            raise ValueError(f"need quality_std >= 0 and video_length > 0, got {quality_std}, {video_length}")
        self.num_clusters = int(num_clusters)
        self.min_utility = float(min_utility)
        self.max_utility = float(max_utility)
        self.trashy_fraction = float(trashy_fraction)
        self.quality_std = float(quality_std)
        self.video_length = float(video_length)
        n_trashy = int(self.num_clusters * trashy_fraction)
        self.cluster_means = np.concatenate([np.linspace(min_utility, 0.0, n_trashy),
                                             np.linspace(0.0, max_utility, self.num_clusters - n_trashy)])

    @property
    def feature_dim(self) -> int:
        return self.num_clusters

    def sample(self, words: np.ndarray) -> dict[str, np.ndarray]:
        """One document per word: topic from the high 32 bits, quality noise from the low 32."""
        cluster = rng.hi_integer(words, self.num_clusters)
        quality = self.cluster_means[cluster] + self.quality_std * rng.normal(rng.lo_uniform(words))
        return {"cluster": cluster, "quality": quality}

    def features(self, docs: dict[str, np.ndarray]) -> np.ndarray:
        # zero-fill + scatter of the ones: about twice as fast as gathering rows of an identity
        cluster = docs["cluster"]
        out = np.zeros((cluster.size, self.num_clusters), dtype=np.float32)
        out[np.arange(cluster.size), cluster.ravel()] = 1.0
        return out.reshape(cluster.shape + (self.num_clusters,))


class ClickbaitDocumentSampler:
    """RecSim's ``LTSDocumentSampler``: clickbaitiness uniform on [0, 1], observed as one feature."""

    feature_dim = 1

    def sample(self, words: np.ndarray) -> dict[str, np.ndarray]:
        return {"clickbait": rng.hi_uniform(words)}

    def features(self, docs: dict[str, np.ndarray]) -> np.ndarray:
        return docs["clickbait"][..., None].astype(np.float32)
