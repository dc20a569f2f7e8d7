"""Benchmark: how long the data loaders take (run on demand; needs LEARNOPT_DATA or a download).

    python bench/data_load.py

Prints MNIST load time (md5 check + gzip + IDX decode) and Omniglot first (decode PNGs) and cached load times,
with the cached/first ratio.
"""

from __future__ import annotations

import tempfile
import time

import torch

from learnopt_course.data import load_mnist, load_omniglot


def main() -> None:
    torch.set_num_threads(1)
    for split in ("train", "test"):
        start = time.perf_counter()
        images, _ = load_mnist(split)
        print(f"MNIST {split:10s}: {time.perf_counter() - start:6.2f} s for {images.shape[0]} images (target < 1 s)")
    with tempfile.TemporaryDirectory() as cache:
        for split in ("evaluation", "background"):
            start = time.perf_counter()
            load_omniglot(split, cache=cache)
            first = time.perf_counter() - start
            start = time.perf_counter()
            load_omniglot(split, cache=cache)
            again = time.perf_counter() - start
            print(f"Omniglot {split:10s}: first {first:6.2f} s, cached {again:5.2f} s (ratio {again / first:.3f})")


if __name__ == "__main__":
    main()
