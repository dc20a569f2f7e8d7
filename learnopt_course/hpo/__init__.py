"""Hyperparameter optimisation: bilevel problems and gradient-based tuning (:mod:`.bilevel`, lesson 10)."""
