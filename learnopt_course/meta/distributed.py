"""Data-parallel meta-training on ``torch.distributed``: the pieces :func:`learnopt_course.meta.trainer.train` uses.

Launched by ``torchrun --nproc_per_node N`` (gloo on CPUs, NCCL on GPUs), every process runs the same meta-trainer.
Each *rank* samples its own inner problems from a rank-split generator (:func:`rank_generator`), estimates the
meta-gradient on them, and the ranks average their estimates with one all-reduce (:func:`average`) before the
identical meta-optimizer step on every rank. The average of N equal-sized per-rank means is the mean over the union of
their tasks, so with a deterministic estimator (truncated or full backpropagation) N processes compute the
meta-gradient one process would compute on the union of their tasks (the weak scaling of data-parallel SGD,
Dean et al. 2012; Goyal et al. 2017, applied to meta-gradients as in the parallel meta-training of Metz et al. 2022).
Only rank 0 writes (checkpoints, progress); a rank that dies makes the others fail with :class:`RankFailure` within
the process group's timeout instead of hanging.

Outside ``torchrun`` (no process group), everything here is the identity: one process, rank 0 of 1.
"""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT_S = 300.0


class RankFailure(RuntimeError):
    """A collective operation failed: another rank died or stopped responding within the timeout."""


def active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world() -> tuple[int, int]:
    """``(rank, world size)``; ``(0, 1)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one process that writes files and prints progress."""
    return world()[0] == 0


def init(backend: str | None = None, timeout_s: float | None = None, device: str | torch.device | None = None) -> tuple[int, int]:
    """Join the process group ``torchrun`` describes (its ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``
    environment); returns ``(rank, world size)``. Without those variables it does nothing and returns ``(0, 1)``.

    ``backend``: default ``"nccl"`` when ``device`` is CUDA, else ``"gloo"``. ``timeout_s`` (default
    ``LEARNOPT_DIST_TIMEOUT``, else 300 s): how long a collective waits for a rank that stopped responding. On CUDA,
    each process takes the GPU ``LOCAL_RANK``."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return 0, 1
    if dist.is_initialized():
        return world()
    if timeout_s is None:
        timeout_s = float(os.environ.get("LEARNOPT_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 seconds; got {timeout_s!r}")
    cuda = device is not None and torch.device(device).type == "cuda"
    backend = backend or ("nccl" if cuda else "gloo")
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' (CPU) or 'nccl' (CUDA); got {backend!r}")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return world()


def shutdown() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _mix(seed: int, rank: int) -> int:
    digest = hashlib.sha256(f"learnopt-rank-split:{seed}:{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def rank_generator(generator: torch.Generator, rank: int | None = None, world_size: int | None = None) -> torch.Generator:
    """The generator rank ``rank`` samples its tasks from: ``generator`` itself in a single process, else a fresh
    generator seeded from ``generator``'s seed and the rank (a hash, so streams of different ranks do not overlap).
    Every rank passes the same ``generator``; the split depends on nothing else, so a run is reproducible for a given
    number of processes."""
    current_rank, current_world = world()
    rank = current_rank if rank is None else rank
    world_size = current_world if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}); got {rank!r}")
    if world_size == 1:
        return generator
    return torch.Generator(device=generator.device).manual_seed(_mix(generator.initial_seed(), rank))


def _collective(what: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202
    try:
        return fn(*args, **kwargs)
    except RuntimeError as err:  # gloo and NCCL raise RuntimeError subclasses (DistBackendError, ...)
        rank, size = world()
        raise RankFailure(
            f"rank {rank} of {size}: the {what} failed, so another rank died (see its own error above or in torchrun's "
            f"report) or stopped responding within the process group's timeout (LEARNOPT_DIST_TIMEOUT): {err}") from err


def average(value: torch.Tensor, grads: list[torch.Tensor | None],
            params: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """The mean over ranks of a window's meta-loss and meta-gradient (one per tensor of ``params``), with one
    all-reduce of one flat buffer.

    A gradient that is ``None`` on some ranks (a meta-parameter their meta-loss did not reach) counts as zero there;
    it stays ``None`` only if it is ``None`` on every rank. Non-finite values propagate, so every rank takes the same
    skip decision. The identity in a single process."""
    if not active():
        return value, grads
    if len(grads) != len(params):
        raise ValueError(f"grads must have one entry per meta-parameter ({len(params)}); got {len(grads)}")
    _, size = world()
    dtype = torch.promote_types(params[0].dtype, torch.float32)
    device = params[0].device
    flags = torch.tensor([0.0 if g is None else 1.0 for g in grads], dtype=dtype, device=device)
    flat = [torch.zeros(p.numel(), dtype=dtype, device=device) if g is None else g.detach().reshape(-1).to(dtype)
            for g, p in zip(grads, params)]
    buffer = torch.cat([value.detach().reshape(1).to(dtype=dtype, device=device), flags, *flat])
    _collective("meta-gradient all-reduce", dist.all_reduce, buffer, op=dist.ReduceOp.SUM)
    mean_value = (buffer[0] / size).to(value.dtype)
    present = buffer[1:1 + len(grads)] > 0.5
    out: list[torch.Tensor | None] = []
    offset = 1 + len(grads)
    for i, p in enumerate(params):
        n = p.numel()
        out.append((buffer[offset:offset + n] / size).reshape(p.shape).to(p.dtype) if bool(present[i]) else None)
        offset += n
    return mean_value, out


def _wire() -> torch.device:
    """Where collectives need their tensors: the process's GPU under NCCL, the CPU under gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast_float(x: float) -> float:
    """Rank 0's value of ``x`` on every rank (a validation score, so every rank keeps the same snapshot)."""
    if not active():
        return x
    t = torch.tensor([x], dtype=torch.float64, device=_wire())
    _collective("broadcast", dist.broadcast, t, src=0)
    return float(t)


def gather_generator_states(generator: torch.Generator) -> list[torch.Tensor]:
    """Every rank's generator state, in rank order (for rank 0's checkpoint); ``[state]`` in a single process."""
    state = generator.get_state()
    if not active():
        return [state]
    _, size = world()
    wire = state.to(_wire())
    states = [torch.empty_like(wire) for _ in range(size)]
    _collective("generator-state gather", dist.all_gather, states, wire)
    return [t.cpu() for t in states]


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if active():
        _collective("barrier", dist.barrier)
