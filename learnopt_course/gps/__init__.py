"""Guided policy search for learning an optimizer (Li & Malik 2017): the pieces built so far.

* :mod:`.lqg`: linear-Gaussian controllers and dynamics, the maximum-entropy LQG backward pass, state marginals,
  expected cost, expected KL, and the KL-trust-region trajectory step by dual gradient descent;
* :mod:`.fit`: local linear-Gaussian fits of the dynamics and of the learned policy;
* :mod:`.badmm`: the policy step's Mahalanobis loss and the dual step;
* :mod:`.features`: the state features Phi (77 per coordinate), the observation features Psi, coordinate groups;
* :mod:`.driver`: a first BADMM loop for one coordinate group on the logistic-regression warm-up, with an LSTM
  student on Psi (measured results in its docstring: not yet a win over momentum).

Still to come for lesson 06 (issue 15): the 48-48-10 MNIST objective with four groups, the policy as a
``torch.optim`` optimizer through the engine, the tuned baselines (CG, L-BFGS), the shipped checkpoint, the transfer
experiments, the exercises and the notebook.
"""
