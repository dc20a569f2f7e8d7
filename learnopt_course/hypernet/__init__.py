"""Hypernetworks for hyperparameter optimisation (Lorraine 2023, Ch. 2) and self-tuning networks (MacKay et al. 2019,
the follow-up), for lesson 09.

* :mod:`.models`: the best-response approximations ``w_phi(lam)`` — global MLP, linear, factorised (eq. 2.3,
  sec. 2.2.3);
* :mod:`.problems`: the lesson's bilevel problems (ridge regression with its closed-form best response; the MNIST
  linear model with one or 7,850 weight decays), as lesson 10's :class:`~learnopt_course.hpo.bilevel.Bilevel`;
* :mod:`.train`: hyper-training, the hyperparameter step, local sampling and Algs 1-3;
* :mod:`.stn`: self-tuning networks (not in the thesis), tuning a dropout rate the IFT cannot differentiate.
"""
