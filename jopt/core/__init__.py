"""The functional core: one module per torch optimizer, each an optax transformation."""
