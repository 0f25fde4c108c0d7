"""Distance-bin encoding of a map's distance to a centre (the input of DiMP's label/mask/weight predictors)."""

import torch
from torch import nn


class DistanceMap(nn.Module):
    """Encode each cell's Euclidean distance to a centre as soft one-hot bins (linear interpolation).

    For a cell at distance ``r`` from the centre (in cells), bin ``k < num_bins - 1`` holds
    ``max(0, 1 - |r / bin_displacement - k|)`` and the last bin holds ``clamp(1 + r / bin_displacement -
    (num_bins - 1), 0, 1)``, i.e. it saturates at 1 for every distance beyond it. The bins of one cell sum
    to 1. No parameters.
    """

    def __init__(self, num_bins: int, bin_displacement: float = 1.0) -> None:
        super().__init__()
        if int(num_bins) < 1:
            raise ValueError(f"DistanceMap: num_bins must be >= 1, got {num_bins}")
        if not bin_displacement > 0:
            raise ValueError(f"DistanceMap: bin_displacement must be > 0, got {bin_displacement}")
        self.num_bins = int(num_bins)
        self.bin_displacement = float(bin_displacement)

    def forward(self, center: torch.Tensor, output_sz: tuple[int, int]) -> torch.Tensor:
        """Args:
            center: ``[B, 2]`` (or anything reshapeable to it) centres as (row, col) = (y, x) in cells.
            output_sz: (H, W) of the map.
        Returns:
            ``[B, num_bins, H, W]`` bin values in center's dtype (float32 for integer centres).
        """
        if center.numel() % 2:
            raise ValueError(f"DistanceMap: center must hold (y, x) pairs, got shape {tuple(center.shape)}")
        center = center.reshape(-1, 2)
        dev = center.device
        dt = center.dtype if center.dtype.is_floating_point else torch.float32
        bins = torch.arange(self.num_bins, dtype=dt, device=dev).reshape(1, -1, 1, 1)
        rows = torch.arange(int(output_sz[0]), dtype=dt, device=dev).reshape(1, 1, -1, 1)
        cols = torch.arange(int(output_sz[1]), dtype=dt, device=dev).reshape(1, 1, 1, -1)
        dy = rows - center[:, 0].reshape(-1, 1, 1, 1)
        dx = cols - center[:, 1].reshape(-1, 1, 1, 1)
        offset = torch.sqrt(dy * dy + dx * dx) / self.bin_displacement - bins
        inner = torch.relu(1.0 - offset[:, :-1].abs())
        last = (1.0 + offset[:, -1:]).clamp(0.0, 1.0)
        return torch.cat((inner, last), dim=1)

    def extra_repr(self) -> str:
        return f"num_bins={self.num_bins}, bin_displacement={self.bin_displacement}"
