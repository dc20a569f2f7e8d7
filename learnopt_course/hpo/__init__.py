"""Hyperparameter optimisation: bilevel problems and gradient-based tuning (:mod:`.bilevel`, lesson 10); grid,
random and Gaussian-process expected-improvement search (:mod:`.search`, the black-box baselines of lessons 07-08)."""
