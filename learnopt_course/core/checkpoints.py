"""Checkpoints of learned components (learned optimizers today; GPS policies, HyperSVG models and AlphaOpt agents
next): one file format, written atomically, verified by sha256, rebuilt by kind.

A checkpoint is ``{"kind", "config", "state_dict", "info"}``: ``kind`` names a registered component class (see
:func:`register`), ``config`` is the dataclass that builds it, ``info`` says how it was made. Shipped checkpoints live
in ``learnopt_course/checkpoints`` with a manifest of their sha256; a file that does not match is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .atomic import atomic_path

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"

# kind -> (module class, function building it from a saved config dict)
_KINDS: dict[str, tuple[type[nn.Module], Callable[[dict], nn.Module]]] = {}


def register(kind: str, cls: type[nn.Module], build: Callable[[dict], nn.Module]) -> None:
    """Make ``kind`` loadable: ``build(config_dict)`` returns a fresh ``cls`` whose weights are then loaded."""
    _KINDS[kind] = (cls, build)


def _kind_of(module: nn.Module) -> str:
    for kind, (cls, _) in _KINDS.items():
        if type(module) is cls:
            return kind
    raise TypeError(f"module must be a registered learned component ({sorted(_KINDS)}); got {type(module).__name__}")


def sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(module: nn.Module, path: str | os.PathLike, info: dict | None = None) -> str:
    """Write ``module`` (kind, config, weights and ``info``) to ``path`` atomically (temporary file, then rename);
    returns the file's sha256. The module needs a dataclass ``config`` and a registered kind."""
    _ensure_registered()
    config = getattr(module, "config", None)
    if not is_dataclass(config):
        raise TypeError(f"module must carry a dataclass `config` to be rebuilt from; got {type(config).__name__}")
    path = Path(path)
    payload = {"kind": _kind_of(module), "config": asdict(config), "state_dict": module.state_dict(),
               "info": info or {}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return sha256(path)


def load_checkpoint(path: str | os.PathLike, expected_sha256: str | None = None) -> tuple[Any, dict]:
    """Load a checkpoint; with ``expected_sha256`` a mismatching file is refused (never silently used)."""
    _ensure_registered()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist; create it with `learnopt reproduce`")
    if expected_sha256 is not None:
        actual = sha256(path)
        if actual != expected_sha256:
            raise ValueError(f"checkpoint {path} has sha256 {actual}, expected {expected_sha256}: it was changed or "
                             "truncated; re-create it with `learnopt reproduce`")
    payload = torch.load(path, weights_only=True)
    kind = payload.get("kind", "lstm")  # the first checkpoints (learned optimizers) carry no kind
    if kind not in _KINDS:
        raise ValueError(f"checkpoint {path} holds a {kind!r}, which this version cannot build; known: {sorted(_KINDS)}")
    module = _KINDS[kind][1](payload["config"])
    module.load_state_dict(payload["state_dict"])
    return module, payload["info"]


def manifest(directory: Path = CHECKPOINT_DIR) -> dict[str, dict]:
    path = directory / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def shipped(name: str) -> tuple[Any, dict]:
    """Load a checkpoint shipped with the package, verified against its manifest."""
    entries = manifest()
    if name not in entries:
        raise KeyError(f"no shipped checkpoint {name!r}; available: {sorted(entries)}")
    entry = entries[name]
    return load_checkpoint(CHECKPOINT_DIR / entry["file"], entry["sha256"])


def _ensure_registered() -> None:
    if "lstm" not in _KINDS:
        from ..optimizers.learned import CoordinateLSTM, LSTMConfig

        register("lstm", CoordinateLSTM, lambda config: CoordinateLSTM(LSTMConfig(**config)))
    if "gps" not in _KINDS:
        from ..gps.driver import GroupedStudent, StudentConfig
        register("gps", GroupedStudent, lambda config: GroupedStudent(StudentConfig(**config)))
    if "alphaopt" not in _KINDS:
        from ..alphaopt.policy import CoordinateActorCritic

        register("alphaopt", CoordinateActorCritic, lambda config: CoordinateActorCritic(**config))
    if "hypersvg" not in _KINDS:
        from ..hypersvg.agent import AgentConfig, HyperSVGAgent
        register("hypersvg", HyperSVGAgent, lambda config: HyperSVGAgent(AgentConfig(**config)).stored())
