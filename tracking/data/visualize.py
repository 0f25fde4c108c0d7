"""A visual check of the sampling: a PNG grid of training samples as the reference loader renders them.

    python -m tracking.data.visualize --out samples.png [--got10k-root DIR] [--samples 4] [--seed 0]

One row per sample: the train crops then the test crops (a white bar between), each with the target box
(green), the Gaussian label map (red overlay, its peak marked with a cross) and, on test crops, the IoU-Net
proposals (blue to yellow by IoU). Without --got10k-root it uses the default synthetic dataset.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .processing import IMAGENET_MEAN, IMAGENET_STD, ProcessingConfig


def _to_uint8(image) -> np.ndarray:
    """[3, S, S] normalised float tensor -> S x S x 3 uint8 BGR."""
    rgb = image.numpy().transpose(1, 2, 0) * np.asarray(IMAGENET_STD) + np.asarray(IMAGENET_MEAN)
    return np.ascontiguousarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)[:, :, ::-1])


def draw_crop(image, box, label=None, proposals=None, ious=None) -> np.ndarray:
    """One annotated crop (BGR uint8). box/proposals: xywh crop coordinates; label: [L, L]."""
    import cv2

    canvas = _to_uint8(image)
    size = canvas.shape[0]
    if label is not None:
        label = np.asarray(label, np.float32)
        heat = cv2.resize(label, (size, size), interpolation=cv2.INTER_LINEAR)
        canvas[:, :, 2] = np.clip(canvas[:, :, 2] + heat * 120, 0, 255).astype(np.uint8)
        L = label.shape[-1]
        row, col = np.unravel_index(int(np.argmax(label)), label.shape)
        stride = size / (L - (1 if L % 2 else 0)) if L > 1 else size
        cx = (col - (L - 1) / 2) * stride + size / 2
        cy = (row - (L - 1) / 2) * stride + size / 2
        cv2.drawMarker(canvas, (int(round(cx)), int(round(cy))), (0, 0, 255), cv2.MARKER_CROSS, 12, 2)
    if proposals is not None:
        for (x, y, w, h), iou in zip(np.asarray(proposals), np.asarray(ious)):
            colour = (int(255 * (1 - iou)), int(255 * iou), int(255 * iou))
            cv2.rectangle(canvas, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), colour, 1)
    x, y, w, h = np.asarray(box)
    cv2.rectangle(canvas, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), (0, 255, 0), 2)
    return canvas


def sample_grid(samples: list[dict]) -> np.ndarray:
    """Rows of annotated crops for samples produced by loaders.reference.TrainingSamples."""
    rows = []
    def item(sample: dict, key: str, i: int):
        return sample[key][i] if key in sample else None

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


def main(argv: list[str] | None = None) -> int:
    import cv2

    from loaders.reference import TrainingSamples

    from .datasets import Got10k
    from .defaults import default_dataset
    from .sampler import dimp_sampler

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="PNG path")
    parser.add_argument("--got10k-root", default=None, help="a GOT-10k-layout dataset (default: synthetic)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epoch", type=int, default=0)
    args = parser.parse_args(argv)

    dataset = Got10k(root=args.got10k_root) if args.got10k_root else default_dataset()
    sampler = dimp_sampler([dataset], samples_per_epoch=max(args.samples, 1), seed=args.seed)
    samples = TrainingSamples(sampler, ProcessingConfig(), seed=args.seed, epoch=args.epoch)
    grid = sample_grid([samples[i] for i in range(args.samples)])
    if not cv2.imwrite(args.out, grid):
        print(f"could not write {args.out}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({grid.shape[1]}x{grid.shape[0]}) from {dataset.name} at {dataset.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
