"""Reading frame images: the one decoder of training loaders, the OPE runner and trackers.

Frames are decoded with OpenCV (imported on first use) into ``H x W x 3`` uint8 arrays: OpenCV's BGR order by
default (what the OpenCV loader crops), RGB with ``rgb=True`` (what trackers get); grayscale files are
expanded to 3 channels. A missing, empty or undecodable file is a :class:`FrameDecodeError` naming it.
"""

from __future__ import annotations

import os

import numpy as np


class FrameDecodeError(RuntimeError):
    """A frame file is missing or is not a decodable image (``path`` names it)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot decode frame {path}: {reason}")
        self.path = path


def decode_frame(path: str, rgb: bool = False) -> np.ndarray:
    """``[H, W, 3]`` uint8 image of ``path``, BGR (``rgb=False``) or RGB; FrameDecodeError when missing or
    corrupt."""
    import cv2

    if not os.path.isfile(path):
        raise FrameDecodeError(path, "file not found")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise FrameDecodeError(path, "not a decodable image (corrupt or truncated?)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if rgb else image
