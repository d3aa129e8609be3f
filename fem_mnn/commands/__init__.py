"""Sub-commands of ``fem-mnn``: one module per command group, each with ``register``."""
