"""Functional models: an ``nn.Module`` for the architecture, plain tensors for the parameters.

Optimizees in this course are trained by *our* optimizers, whose updates must stay on the autograd graph, so the
parameters are a ``dict`` of ordinary tensors and the module is only called through
``torch.func.functional_call`` (COURSE_DESIGN.md, "Style"). Initialisation is seeded by an explicit generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

ACTIVATIONS: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


class FunctionalModel:
    """``model(params, x)`` evaluates ``module`` with ``params``; ``model.init(generator)`` draws fresh parameters.

    Initialisation (``init``), drawn from the given generator so that every run is reproducible:

    * ``"torch"`` (default): PyTorch's default for linear and convolution layers, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``
      for weights and biases;
    * ``"he_uniform"``: weights ``U(-sqrt(6/fan_in), sqrt(6/fan_in))`` (He et al. 2015), biases 0 (Crouther 2023,
      Table 4.3's SVG runs);
    * ``"glorot"``: weights ``U(-sqrt(6/(fan_in+fan_out)), ...)`` (Glorot & Bengio 2010), biases 0 (its PPO runs).
    """

    INITS = ("torch", "he_uniform", "glorot")

    def __init__(self, module: nn.Module, name: str, init: str = "torch") -> None:
        if init not in self.INITS:
            raise ValueError(f"init must be one of {self.INITS}; got {init!r}")
        self.module = module.requires_grad_(False)
        self.name = name
        self.scheme = init
        self.shapes = {k: tuple(v.shape) for k, v in module.named_parameters()}

    @property
    def num_parameters(self) -> int:
        return sum(math.prod(s) for s in self.shapes.values())

    def init(self, generator: torch.Generator, dtype: torch.dtype = torch.float32,
             device: torch.device | str | None = None) -> dict[str, Tensor]:
        """Fresh parameters (drawn on the CPU from ``generator``, so the same on every device), in ``dtype`` on
        ``device``; the module itself has no parameters of its own to move."""
        params = {}
        for name, shape in self.shapes.items():
            owner = self.module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else self.module
            weight = owner.weight
            fan_in = weight[0].numel()
            fan_out = weight.shape[0] * (weight[0, 0].numel() if weight.dim() > 2 else 1)
            is_bias = name.endswith("bias")
            if self.scheme == "torch":
                bound = 1 / math.sqrt(fan_in)
            elif is_bias:
                bound = 0.0
            else:
                bound = math.sqrt(6 / fan_in) if self.scheme == "he_uniform" else math.sqrt(6 / (fan_in + fan_out))
            params[name] = ((torch.rand(shape, generator=generator, dtype=dtype) * 2 - 1) * bound).to(device)
        return params

    def __call__(self, params: dict[str, Tensor], x: Tensor) -> Tensor:
        missing = set(self.shapes) - set(params)
        if missing:
            raise KeyError(f"params is missing {sorted(missing)} for model {self.name}")
        return functional_call(self.module, params, (x,))


def mlp(sizes: Sequence[int], activation: str = "sigmoid", init: str = "torch") -> FunctionalModel:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between layers (logits out),
    initialised by ``init`` (see :class:`FunctionalModel`)."""
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be at least two positive integers; got {list(sizes)!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    name = "-".join(map(str, sizes)) + (f" {activation}" if len(sizes) > 2 else "")
    return FunctionalModel(nn.Sequential(*layers), f"MLP {name}", init)


def cnn(n_classes: int = 10, channels: Sequence[int] = (16, 32), image_size: int = 28, in_channels: int = 1,
        activation: str = "relu") -> FunctionalModel:
    """A small CNN: per block a 3x3 convolution, the activation and 2x2 max-pooling; then a linear classifier."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
    layers: list[nn.Module] = []
    c, size = in_channels, image_size
    for out in channels:
        layers += [nn.Conv2d(c, out, 3, padding=1), ACTIVATIONS[activation](), nn.MaxPool2d(2)]
        c, size = out, size // 2
    if size < 1:
        raise ValueError(f"image_size {image_size} is too small for {len(channels)} pooling blocks")
    layers += [nn.Flatten(), nn.Linear(c * size * size, n_classes)]
    return FunctionalModel(nn.Sequential(*layers), f"CNN {'-'.join(map(str, channels))}")
