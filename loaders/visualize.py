"""A visual check of the sampling: a PNG grid of training samples as the OpenCV backend renders them.

    python -m loaders.visualize --out samples.png [--got10k-root DIR] [--samples 4] [--seed 0] [--epoch 0]

One row per sample: the train crops then the test crops (a white bar between), each with the target box
(green), the Gaussian label map (red overlay, its peak marked with a cross) and, on test crops, the IoU-Net
proposals (blue to yellow by IoU). Without --got10k-root it uses the default synthetic dataset. The
samples are the first batch of build_loader(LoaderConfig(backend="opencv", ...)) with DiMP's sampler and
processing.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

from tracking.data.processing import IMAGENET_MEAN, IMAGENET_STD, BatchField, ProcessingConfig


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """[3, S, S] normalised float tensor -> S x S x 3 uint8 BGR."""
    rgb = image.numpy().transpose(1, 2, 0) * np.asarray(IMAGENET_STD) + np.asarray(IMAGENET_MEAN)
    return np.ascontiguousarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)[:, :, ::-1])


def label_peak(label: np.ndarray, size: int) -> tuple[float, float]:
    """(x, y) crop coordinates of the centre of the [L, L] label map's highest cell, for S = `size`
    (the cell grid of tracking.data.geometry.gaussian_label: centred on the crop, stride S / L' where
    L' = L - 1 for odd L)."""
    L = label.shape[-1]
    row, col = np.unravel_index(int(np.argmax(label)), label.shape)
    stride = size / (L - (1 if L % 2 else 0)) if L > 1 else size
    return (col - (L - 1) / 2) * stride + size / 2, (row - (L - 1) / 2) * stride + size / 2


def draw_crop(image: torch.Tensor, box, label=None, proposals=None, ious=None) -> np.ndarray:
    """One annotated crop (S x S x 3 BGR uint8). box, proposals [P, 4]: xywh crop coordinates;
    label: [L, L]; ious: [P] (None, e.g. PrDiMP's density-weighted proposals: drawn in one colour)."""
    import cv2

    canvas = _to_uint8(image)
    size = canvas.shape[0]
    if label is not None:
        label = np.asarray(label, np.float32)
        heat = cv2.resize(label, (size, size), interpolation=cv2.INTER_LINEAR)
        canvas[:, :, 2] = np.clip(canvas[:, :, 2] + heat * 120, 0, 255).astype(np.uint8)
        cx, cy = label_peak(label, size)
        cv2.drawMarker(canvas, (int(round(cx)), int(round(cy))), (0, 0, 255), cv2.MARKER_CROSS, 12, 2)
    if proposals is not None:
        ious = np.full(len(proposals), np.nan) if ious is None else np.asarray(ious)
        for (x, y, w, h), iou in zip(np.asarray(proposals), ious):
            colour = (200, 200, 0) if not np.isfinite(iou) else (int(255 * (1 - iou)), int(255 * iou), int(255 * iou))
            cv2.rectangle(canvas, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), colour, 1)
    x, y, w, h = np.asarray(box)
    cv2.rectangle(canvas, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), (0, 255, 0), 2)
    return canvas


def split_batch(batch: dict, fields: dict[str, BatchField]) -> list[dict]:
    """The samples of a batch (layout of loaders.samples): per sample, the images [n, 3, S, S] and the
    declared fields with the batch dimension taken out."""
    count = batch["train_images"].shape[1]
    dims = {"train_images": 1, "test_images": 1, **{name: f.stack_dim for name, f in fields.items()}}
    return [{name: batch[name].select(dim, b) for name, dim in dims.items() if name in batch} for b in range(count)]


def sample_grid(samples: list[dict]) -> np.ndarray:
    """Rows of annotated crops (H x W x 3 BGR uint8) for samples as split_batch gives them."""
    def item(sample: dict, key: str, i: int):
        return sample[key][i] if key in sample else None

    rows = []
    for sample in samples:
        tiles = [draw_crop(img, box, item(sample, "train_label", i))
                 for i, (img, box) in enumerate(zip(sample["train_images"], sample["train_anno"]))]
        tiles.append(np.full((tiles[0].shape[0], 8, 3), 255, np.uint8))
        for i, (img, box) in enumerate(zip(sample["test_images"], sample["test_anno"])):
            tiles.append(draw_crop(img, box, item(sample, "test_label", i), item(sample, "test_proposals", i),
                                   item(sample, "proposal_iou", i)))
        rows.append(np.hstack(tiles))
        rows.append(np.full((8, rows[-1].shape[1], 3), 255, np.uint8))
    return np.vstack(rows[:-1])


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loaders.visualize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="PNG path")
    parser.add_argument("--got10k-root", default=None, help="a GOT-10k-layout dataset (default: synthetic)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epoch", type=int, default=0)
    args = parser.parse_args(argv)
    if args.samples < 1 or args.seed < 0 or args.epoch < 0:
        return _fail("--samples must be >= 1, --seed and --epoch >= 0")
    if args.got10k_root is not None and not os.path.isdir(args.got10k_root):
        return _fail(f"--got10k-root {args.got10k_root}: not a directory")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir) or not os.access(out_dir, os.W_OK) or os.path.isdir(args.out):
        return _fail(f"--out {args.out}: cannot write there")

    import cv2

    from tracking.data.datasets import DatasetNotFoundError, Got10k
    from tracking.data.defaults import default_dataset

    from .api import build_loader
    from .config import LoaderConfig

    try:
        dataset = Got10k(root=args.got10k_root) if args.got10k_root else default_dataset()
    except DatasetNotFoundError as exc:
        return _fail(f"--got10k-root {args.got10k_root}: {exc}")
    processing = ProcessingConfig()
    loader = build_loader(LoaderConfig(backend="opencv", batch_size=args.samples, workers=0, sampler="dimp",
                                       samples_per_epoch=args.samples, seed=args.seed), [dataset], processing)
    loader.set_epoch(args.epoch)
    batch = next(iter(loader))
    loader.close()
    grid = sample_grid(split_batch(batch, processing.batch_fields()))
    try:
        written = cv2.imwrite(args.out, grid)
    except cv2.error:
        written = False
    if not written:
        return _fail(f"--out {args.out}: could not write the PNG")
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]}) from {dataset.name} at {dataset.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
