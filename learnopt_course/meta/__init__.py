"""Differentiating through optimization, and training what optimizes.

* :mod:`.engine`: the unroll engine, the one inner training loop of the library (``unroll``, ``minimize``);
* :mod:`.unroll`: unrolled hypergradients in reverse and forward mode, truncation, graph memory (lesson 02);
* :mod:`.adjoint`: adjoint sensitivities of continuous-time systems (lesson 03);
* :mod:`.ift`: implicit-function-theorem hypergradients (lesson 10);
* :mod:`.gradients`: meta-gradient estimators (truncated backprop, full unroll, antithetic ES, PES, implicit);
* :mod:`.trainer`: the one meta-trainer (schedules, snapshot selection, non-finite guard, resumable checkpoints);
* :mod:`.distributed`: what the meta-trainer needs to run data-parallel under ``torchrun`` (rank-split generators,
  the meta-gradient all-reduce, rank failures).
"""
