"""AlphaOpt, the capstone (lesson 11; the AlphaOpt proposal, with Li & Malik 2017 and Andrychowicz et al. 2016): an RL
agent that chooses a learning rate for every parameter, shared across coordinates so that its size does not grow
with the network's.

* :mod:`.rules`: the per-coordinate update, episode returns (and why -delta-L telescopes), the summed per-coordinate
  log-probability — the lesson's exercises 11.1-11.3;
* :mod:`.features`: what the agent observes about each coordinate (no raw parameter: the proposal's theta breaks
  permutation and shift invariance);
* :mod:`.policy`: a coordinatewise actor-critic for :class:`~learnopt_course.rl.PPO`;
* :mod:`.env`: per-coordinate learning-rate control as a Gymnasium environment on any engine task;
* :mod:`.optimizer`: the trained agent as a functional optimizer and as ``AlphaOpt``, a ``torch.optim.Optimizer``.
"""
