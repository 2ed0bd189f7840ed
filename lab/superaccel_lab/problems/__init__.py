"""Test problems: value and gradient in torch, an analytic numpy gradient where cheap, and
the known minimum."""

from .base import Problem
from .landscapes import Beale, IllConditionedQuadratic, PaperValley2D, Rosenbrock
from .regression import PaperRegression

__all__ = ["Problem", "PaperValley2D", "PaperRegression", "Rosenbrock", "Beale", "IllConditionedQuadratic"]
