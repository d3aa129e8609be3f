"""Sub-commands of ``fem-mnn``: one module per command group, each with ``register``."""

__all__: list[str] = []  # the modules are the API; the package itself exports nothing
