"""HyperSVG (Crouther 2023, Ch. 3 and sec. 4.1, 4.3): stochastic value gradients through a learned model of the
optimizer, for lesson 08.

* :mod:`.data`: transitions ``(s_t, log lr, s_{t+1})`` logged from real training runs at several learning rates;
* :mod:`.model`: the synthetic optimizer, a Gaussian model of the next parameters (eqs 3.2.1-3.2.3), its imitation
  loss (eq. 4.1.1 with the target index corrected), noise inference and reparameterisation with the correct sign
  (and Alg. 5's printed one, for comparison);
* :mod:`.policy`: a squashed log-learning-rate policy;
* :mod:`.svg`: SVG(infinity) through the model, teacher-forced as Alg. 5 prints it and chained as Heess et al.
  (2015) define it; offline Dyna (Alg. 6); the smoothing measurement the thesis never ran.
"""
