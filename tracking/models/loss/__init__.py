"""Training losses: DiMP's hinged classification loss and PrDiMP's KL-divergence losses (MSE is torch's)."""

from .kl_regression import KLRegression, KLRegressionGrid
from .target_classification import LBHinge

__all__ = ["KLRegression", "KLRegressionGrid", "LBHinge"]
