"""``recloop demo`` (:mod:`recloop.apps.demo.run`) and its stages, one module per area."""
