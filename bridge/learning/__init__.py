"""Learning: data sets, torch/snntorch layers of the rules, networks, training. Takes fitted
rules as loaded :class:`bridge.fitting.rules.Rule` objects; never reads the environment."""
