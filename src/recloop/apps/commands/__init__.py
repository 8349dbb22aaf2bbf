"""One module per area: each exposes ``register(app)``, adding its commands to the CLI."""
