"""Fusion networks trained with skorch, as scikit-learn estimators."""

from skmm.fusion._estimators import FusionClassifier, FusionRegressor
from skmm.fusion._pretrained import (
    PretrainedBranch,
    WarmupLR,
    make_pretrained_pair,
)

__all__ = [
    "FusionClassifier",
    "FusionRegressor",
    "PretrainedBranch",
    "WarmupLR",
    "make_pretrained_pair",
]
