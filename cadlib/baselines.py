"""Reference answers a trained model has to beat: a constant guess and a lookup.

- constant: the training set's most common target. Synthetic and DeepCAD targets rarely repeat
  whole, so "most common" is taken over the command structure (the text with its numbers
  removed), and within the most common structure the member nearest that structure's median
  numbers: a typical part of the most typical kind.
- retrieval: the target of the training image nearest to the query image in pixel space
  (grayscale, downsampled, Euclidean): what a model that only memorised its training set does.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_NUMBER = re.compile(r"-?\d+")


def structure(text: str) -> str:
    """The text with every number replaced by '#'."""
    return _NUMBER.sub("#", text)


def constant_target(targets: Sequence[str]) -> str:
    """The constant baseline's answer (see the module docstring)."""
    if not targets:
        raise ValueError("no training targets to choose a constant answer from")
    whole = Counter(targets).most_common(1)[0]
    if whole[1] > 1:
        return whole[0]
    kind = Counter(structure(t) for t in targets).most_common(1)[0][0]
    members = [t for t in targets if structure(t) == kind]
    numbers = np.array([[int(x) for x in _NUMBER.findall(t)] for t in members], dtype=float)
    median = np.median(numbers, axis=0)
    return members[int(np.argmin(np.abs(numbers - median).sum(axis=1)))]


def image_vector(path: str | Path, side: int = 64) -> np.ndarray:
    """A view image as a unit-free grayscale vector (side x side), for nearest-neighbour lookup."""
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L").resize((side, side), Image.Resampling.BILINEAR), dtype=np.float32).ravel() / 255.0


class RetrievalIndex:
    """Nearest training image in pixel space -> its target."""

    def __init__(self, images: Sequence[str | Path], targets: Sequence[str], side: int = 64) -> None:
        if len(images) != len(targets) or not len(images):
            raise ValueError(f"retrieval needs one target per image and at least one ({len(images)} images, "
                             f"{len(targets)} targets)")
        self.side = side
        self.matrix = np.stack([image_vector(p, side) for p in images])
        self.norms = (self.matrix**2).sum(axis=1)
        self.targets = list(targets)

    def nearest(self, image: str | Path) -> str:
        q = image_vector(image, self.side)
        d = self.norms - 2 * self.matrix @ q
        return self.targets[int(np.argmin(d))]
