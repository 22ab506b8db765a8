"""Experiments built on training runs: comparisons, the demo, plots, the HTML report and the
environment report. Every store is passed in; only ``bridge.cli`` resolves ``--results``."""
