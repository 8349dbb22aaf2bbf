"""Slate recommendation agents: SlateQ and its baselines (torch for the learned ones).

Registered as policies: ``slateq``, ``myopic-slate``, ``full-slate-dqn``,
``random-slate``, ``popularity-slate``. Importing this package imports no torch:
the names are declared to the registry and each module loads when first used.
"""

from __future__ import annotations

from recloop.core.lazy import lazy_attributes
from recloop.core.registry import declare

# registry name, aliases, class, summary
POLICIES = [
    ("slateq", ("slate-q",), "recloop.agents.slate.slateq:SlateQ",
     "Per-item Q network + choice model; optimiser picks slates, target picks the TD rule"),
    ("myopic-slate", ("slate-myopic",), "recloop.agents.slate.myopic:MyopicGreedy",
     "Learned one-step click and engagement models; exact (or greedy) slate optimisation"),
    ("full-slate-dqn", ("slate-dqn",), "recloop.agents.slate.full_slate_dqn:FullSlateDQN",
     "DQN whose actions are all ordered slates of the candidate set"),
    ("random-slate", ("slate-random",), "recloop.agents.slate.baselines:RandomSlate",
     "Every ordered slate of distinct items equally likely"),
    ("popularity-slate", ("slate-popularity",), "recloop.agents.slate.baselines:Popularity",
     "Shows the candidates most like what users clicked so far"),
]
for _name, _aliases, _target, _summary in POLICIES:
    declare("policy", _name, _target, *_aliases, summary=_summary)

_LAZY = {
    **{target.rsplit(":", 1)[1]: target for _, _, target, _ in POLICIES},
    "SlateDecision": "recloop.agents.slate.base:SlateDecision",
    "SlatePolicy": "recloop.agents.slate.base:SlatePolicy",
    **{name: f"recloop.agents.slate.slates:{name}" for name in ("best_slates", "enumerate_slates",
                                                                "row_slate_values", "slate_values")},
    "evaluate": "recloop.agents.slate.training:evaluate",
    "train": "recloop.agents.slate.training:train",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
