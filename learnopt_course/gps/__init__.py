"""Guided policy search for learning an optimizer (Li & Malik 2017), lesson 06.

* :mod:`.lqg`: linear-Gaussian controllers and dynamics, the maximum-entropy LQG backward pass, state marginals,
  expected cost, expected KL, the KL-trust-region trajectory step by dual descent, and the deterministic LQR sweep;
* :mod:`.fit`: local linear-Gaussian fits of the dynamics and of the learned policy;
* :mod:`.badmm`: the policy step's Mahalanobis loss and the dual step;
* :mod:`.features`: the observation features Psi (3 per coordinate), the state features Phi (77), coordinate groups;
* :mod:`.driver`: BADMM guided policy search on any engine task whose parameters are a dict of tensors (one
  coordinate group per tensor), the grouped LSTM student and ``PredictedStepDescent``, the trained policy as an
  optimizer of the engine's interface (and through ``optimizers.TorchOptimizer`` a ``torch.optim`` optimizer);
* :mod:`.settings` and :mod:`.evaluate`: the paper's training and transfer settings at CPU scale, baseline tuning,
  scoring by the area under the true loss curve, and the paper's qualitative claims checked on a run.
"""
