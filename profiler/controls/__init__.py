"""Controls: the positive control (a proxy that injects a known cost) and its lifecycle."""
