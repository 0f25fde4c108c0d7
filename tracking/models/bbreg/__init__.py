"""Box regressors: ATOM's IoU-Net (also DiMP's and PrDiMP's box branch) and the ATOM network.

``ATOMnet``, ``atom_resnet18`` and ``atom_resnet50`` (module ``.atom``, which needs the backbones) are imported
on first access, so importing the IoU-Net alone does not import the backbones.
"""

from typing import Any

from .atom_iou_net import AtomIoUNet

__all__ = ["ATOMnet", "AtomIoUNet", "atom_resnet18", "atom_resnet50"]

_ATOM_NAMES = ("ATOMnet", "atom_resnet18", "atom_resnet50")


def __getattr__(name: str) -> Any:
    if name in _ATOM_NAMES:
        from . import atom

        return getattr(atom, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
