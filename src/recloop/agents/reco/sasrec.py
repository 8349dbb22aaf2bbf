"""SASRec with a full-softmax cross-entropy loss (Kang & McAuley 2018; CE loss as in RecBole)."""

from __future__ import annotations

from recloop.agents.reco.gru4rec import GRU4Rec, _Net
from recloop.agents.reco.nets import make_encoder


class SASRec(GRU4Rec):
    """GRU4Rec's objective on a causal self-attention encoder (2 blocks, 2 heads)."""

    name = "sasrec"

    def __init__(self, *, dim: int = 64, dropout: float = 0.2, max_len: int = 50, batch_size: int = 128,
                 lr: float = 2e-3, lr_schedule: str = "constant", epochs: int = 200, patience: int = 10,
                 seed: int = 0):
        super().__init__(dim=dim, dropout=dropout, max_len=max_len, batch_size=batch_size, lr=lr,
                         lr_schedule=lr_schedule, epochs=epochs, patience=patience, seed=seed)

    def _build(self, n_items: int):
        return _Net(make_encoder("sasrec", n_items, max_len=self.max_len, dim=self.dim, dropout=self.dropout))
