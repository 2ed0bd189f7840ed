"""Test problems: value and gradient in torch, an analytic numpy gradient where cheap, and
the known minimum."""

from .base import Problem
from .landscapes import PaperValley2D

__all__ = ["Problem", "PaperValley2D"]
