"""Modality-aware ensembles: Bagging, AdaBoost, Stacking and ensemble selection."""

from skmm.ensemble._bagging import ModalityBaggingClassifier, ModalityBaggingRegressor
from skmm.ensemble._selection import EnsembleSelectionClassifier
from skmm.ensemble._stacking import (
    ModalityStackingClassifier,
    ModalityStackingRegressor,
)
from skmm.ensemble._weight_boosting import MultimodalAdaBoostClassifier

__all__ = [
    "EnsembleSelectionClassifier",
    "ModalityBaggingClassifier",
    "ModalityBaggingRegressor",
    "ModalityStackingClassifier",
    "ModalityStackingRegressor",
    "MultimodalAdaBoostClassifier",
]
