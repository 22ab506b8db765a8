"""Fits of simulation runs to the gain/bias form (transfer, equilibrium, dynamics, scaling) and
the rule files they produce. Imports only ``bridge.core``, ``models`` and ``sims`` (docs/fitting.md)."""
