"""What to generate: ``SyntheticSpec``, the on-disk layout names, the progress callback type and the constants
shared by the scene, the writers and the cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["DEFAULT_LASOT_CLASSES", "MIN_VISIBLE_RATIO", "TEXTURES", "Layout", "ProgressFn", "SyntheticSpec"]

#: Frames where less than this fraction of the target's area is visible are absent.
MIN_VISIBLE_RATIO = 0.02
DEFAULT_LASOT_CLASSES = ("synthcar", "synthball")
#: SyntheticSpec.texture values.
TEXTURES = ("smooth", "textured")
#: "textured": amplitude (grey levels) of the static fine texture (unit noise blurred with sigma
#: FINE_TEXTURE_BLUR px) and standard deviation of the per-frame sensor noise.
FINE_TEXTURE_AMPLITUDE, FINE_TEXTURE_BLUR, SENSOR_NOISE_SIGMA = 20.0, 0.8, 4.0

Layout = Literal["got10k", "lasot"]
#: ``progress(done, total, sequence_name)``, called after each written sequence.
ProgressFn = Callable[[int, int, str], None]


@dataclass
class SyntheticSpec:
    """What to generate. Two equal specs generate identical data.

    Attributes:
        num_sequences: number of sequences.
        num_frames: frames per sequence (T).
        width, height: frame size in pixels.
        seed: sequence ``i`` uses ``np.random.default_rng((seed, i))``; a non-negative int.
        jpeg_quality: JPEG quality (0-100) of the written frames.
        out_of_view_prob: probability that a sequence has an out-of-view episode (needs T >= 8).
        occlusion_prob: probability that a sequence has a partial-occlusion episode (needs T >= 6).
        texture: "smooth" (flat shapes over smooth noise: ~0.6-0.9 bits per pixel at quality 90, lighter than
            real footage) or "textured" (TEXTURES: the same scene plus a static fine-grained surface texture
            and per-frame sensor noise: ~2-2.5 bits per pixel at quality 90, like real tracking footage,
            e.g. OTB's Soccer 2.7, Basketball 2.4). Decode cost grows with the bits per pixel, so loader
            benchmarks use "textured".
    """

    num_sequences: int = 8
    num_frames: int = 60
    width: int = 640
    height: int = 360
    seed: int = 0
    jpeg_quality: int = 90
    out_of_view_prob: float = 0.3
    occlusion_prob: float = 0.3
    texture: str = "smooth"

    def __post_init__(self) -> None:
        for name in ("num_sequences", "num_frames", "width", "height", "seed", "jpeg_quality"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"SyntheticSpec.{name} must be an int, got {value!r}")
        if self.num_sequences < 0 or self.num_frames < 1 or self.seed < 0:
            raise ValueError(f"invalid SyntheticSpec: need num_sequences >= 0, num_frames >= 1, seed >= 0: {self}")
        if self.width < 16 or self.height < 16:
            raise ValueError(f"SyntheticSpec frame size must be at least 16x16, got {self.width}x{self.height}")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError(f"SyntheticSpec.jpeg_quality must be in [0, 100], got {self.jpeg_quality}")
        if self.texture not in TEXTURES:
            raise ValueError(f"SyntheticSpec.texture must be one of {TEXTURES}, got {self.texture!r}")
        for name in ("out_of_view_prob", "occlusion_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SyntheticSpec.{name} must be in [0, 1], got {getattr(self, name)}")
