"""Guided policy search for learning an optimizer (Li & Malik 2017): the pieces built so far.

* :mod:`.lqg`: linear-Gaussian controllers and dynamics, the maximum-entropy LQG backward pass, state marginals,
  expected cost, expected KL, and the KL-trust-region trajectory step by dual gradient descent;
* :mod:`.fit`: local linear-Gaussian fits of the dynamics and of the learned policy;
* :mod:`.badmm`: the policy step's Mahalanobis loss and the dual step;
* :mod:`.features`: the observation features Psi and the coordinate groups.
"""
