"""Pruners: decide after each reported step whether a trial should stop."""

from .asha import AshaPruner
from .base import Pruner
from .median import MedianPruner
from .nop import NopPruner

__all__ = ["AshaPruner", "MedianPruner", "NopPruner", "Pruner"]
