"""Parameter trees: the one set of helpers for "a tensor, or a mapping of names to tensors".

Every module of the library (optimizers, the unroll engine, implicit hypergradients, the RL environment) passes
parameters and hyperparameters as trees and uses these helpers to look inside them, so that a single tensor and a
``{name: tensor}`` dictionary (what ``torch.func.functional_call`` takes) are handled the same way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Union

import torch
from torch import Tensor

Tree = Union[Tensor, Mapping[str, Tensor]]

SINGLE = "__tensor__"  # the name a lone tensor goes by where names are needed


def as_dict(tree: Tree, argument: str = "params") -> dict[str, Tensor]:
    """The tree as a ``{name: tensor}`` dict (a lone tensor is named :data:`SINGLE`); anything else raises a
    ``TypeError`` naming ``argument``."""
    if isinstance(tree, Tensor):
        return {SINGLE: tree}
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"{argument}[{key!r}] must be a torch.Tensor; got {type(value).__name__}")
        return dict(tree)
    raise TypeError(f"{argument} must be a tensor or a mapping of names to tensors; got {type(tree).__name__}")


def like(original: Tree, values: Mapping[str, Tensor]) -> Tree:
    """``values`` (a dict keyed as :func:`as_dict` keys ``original``) in the shape of ``original``."""
    return values[SINGLE] if isinstance(original, Tensor) else dict(values)


def leaves(tree: Tree, argument: str = "tree") -> list[Tensor]:
    """The tensors of a tree, in order."""
    return list(as_dict(tree, argument).values())


def rebuild(tree: Tree, new_leaves: list[Tensor]) -> Tree:
    """A tree shaped like ``tree`` holding ``new_leaves`` (in :func:`leaves` order)."""
    return new_leaves[0] if isinstance(tree, Tensor) else dict(zip(tree, new_leaves))


def tree_map(fn: Callable[..., Tensor], tree: Tree, *others: Tree) -> Tree:
    """``fn`` applied leaf by leaf to ``tree`` and trees of the same structure."""
    rest = [leaves(o, "other") for o in others]
    return rebuild(tree, [fn(t, *(r[i] for r in rest)) for i, t in enumerate(leaves(tree))])


def detach(tree: Tree) -> Tree:
    """Every leaf detached from the autograd graph (same storage)."""
    return tree_map(lambda t: t.detach(), tree)


def fresh_leaves(tree: Tree) -> Tree:
    """Detached copies that require grad: the starting points of a new graph."""
    return tree_map(lambda t: t.detach().requires_grad_(True), tree)


def ensure_grad(tree: Tree) -> Tree:
    """Leaves already on a graph stay on it; the others become fresh leaves that require grad."""
    return tree_map(lambda t: t if t.requires_grad else t.detach().requires_grad_(True), tree)


def flat(tree: Tree | list[Tensor] | tuple[Tensor, ...]) -> Tensor:
    """All leaves (of a tree, or a list or tuple of tensors) concatenated into one flat vector."""
    ts = list(tree) if isinstance(tree, (list, tuple)) else leaves(tree)
    return ts[0].reshape(-1) if len(ts) == 1 else torch.cat([t.reshape(-1) for t in ts])


def split(vector: Tensor, like_tree: Tree) -> Tree:
    """The inverse of :func:`flat`: ``vector`` cut into pieces shaped like the leaves of ``like_tree``."""
    out, offset = [], 0
    for t in leaves(like_tree):
        n = math.prod(t.shape)
        out.append(vector[offset : offset + n].view(t.shape))
        offset += n
    if offset != vector.numel():
        raise ValueError(f"vector has {vector.numel()} entries but the tree has {offset}")
    return rebuild(like_tree, out)


def numel(tree: Tree) -> int:
    return sum(t.numel() for t in leaves(tree))


def all_finite(tree: Tree) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in leaves(tree))


def to(tree: Tree, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Tree:
    """Every leaf moved to ``device`` and, if floating point, cast to ``dtype``."""
    return tree_map(lambda t: t.to(device=device, dtype=dtype if t.is_floating_point() else None), tree)
