"""N-way K-shot few-shot episodes (Vinyals et al. 2016; Finn et al. 2017), seeded and leak-free.

Each episode draws N classes, then K + Q *distinct* drawers per class: the first K are the support set and the other
Q the query set, so a support image never reappears as a query. With ``rotations=True`` every character also appears
rotated by 90, 180 and 270 degrees as three new classes (the standard augmentation of Santoro et al. 2016).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Episode:
    """Support and query images ``[N*K or N*Q, 1, H, W]`` (float in [0, 1]) with labels ``0..N-1``.

    ``classes`` holds the sampled class indices (``character * 4 + rotation`` with rotations, else the character).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    classes: torch.Tensor
    support_drawers: torch.Tensor  # [N, K]
    query_drawers: torch.Tensor  # [N, Q]


class EpisodeSampler:
    """Sample episodes from ``images`` of shape ``[classes, examples, H, W]`` (uint8 0..255 or float)."""

    def __init__(self, images: torch.Tensor, n_way: int = 5, k_shot: int = 1, q_queries: int = 15,
                 rotations: bool = False, seed: int = 0) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a tensor [classes, examples, H, W]; got {got}")
        for name, value in (("n_way", n_way), ("k_shot", k_shot), ("q_queries", q_queries)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        n_classes = images.shape[0] * (4 if rotations else 1)
        if n_way > n_classes:
            raise ValueError(f"n_way={n_way} exceeds the {n_classes} classes available")
        if k_shot + q_queries > images.shape[1]:
            raise ValueError(
                f"k_shot + q_queries = {k_shot + q_queries} exceeds the {images.shape[1]} examples per class"
            )
        self.images, self.n_way, self.k_shot, self.q_queries = images, n_way, k_shot, q_queries
        self.rotations, self.n_classes = rotations, n_classes
        self.generator = torch.Generator().manual_seed(seed)

    def _image(self, cls: int, drawers: torch.Tensor) -> torch.Tensor:
        char, rot = (cls // 4, cls % 4) if self.rotations else (cls, 0)
        x = self.images[char, drawers]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return torch.rot90(x, rot, dims=(-2, -1)) if rot else x

    def sample(self) -> Episode:
        """The next episode from this sampler's own generator (so a seed fixes the whole sequence)."""
        g = self.generator
        classes = torch.randperm(self.n_classes, generator=g)[: self.n_way]
        per_class = self.images.shape[1]
        drawers = torch.stack([torch.randperm(per_class, generator=g)[: self.k_shot + self.q_queries]
                               for _ in range(self.n_way)])
        support_d, query_d = drawers[:, : self.k_shot], drawers[:, self.k_shot:]
        sx = torch.cat([self._image(int(c), d) for c, d in zip(classes, support_d)]).unsqueeze(1)
        qx = torch.cat([self._image(int(c), d) for c, d in zip(classes, query_d)]).unsqueeze(1)
        labels = torch.arange(self.n_way)
        return Episode(sx, labels.repeat_interleave(self.k_shot), qx, labels.repeat_interleave(self.q_queries),
                       classes, support_d, query_d)

    def __iter__(self):
        while True:
            yield self.sample()
