"""Fusion networks trained with skorch, as scikit-learn estimators."""

from skmm.fusion._estimators import FusionClassifier, FusionRegressor

__all__ = ["FusionClassifier", "FusionRegressor"]
