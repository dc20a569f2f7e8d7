"""Pieces every part of the library shares: atomic files (more to come: parameter trees, generators, devices)."""

from .atomic import atomic_path, atomic_write_text, file_lock

__all__ = ["atomic_path", "atomic_write_text", "file_lock"]
