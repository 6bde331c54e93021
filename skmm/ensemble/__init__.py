"""Modality-aware ensembles: Bagging, AdaBoost, Stacking and ensemble selection."""

from skmm.ensemble._bagging import ModalityBaggingClassifier, ModalityBaggingRegressor
from skmm.ensemble._diversity import ensemble_diversity, prediction_diversity
from skmm.ensemble._library import ModalityExpertClassifier, make_library
from skmm.ensemble._selection import EnsembleSelectionClassifier
from skmm.ensemble._snapshot import SnapshotEnsembleClassifier
from skmm.ensemble._stacking import (
    ModalityStackingClassifier,
    ModalityStackingRegressor,
)
from skmm.ensemble._weight_boosting import MultimodalAdaBoostClassifier

__all__ = [
    "EnsembleSelectionClassifier",
    "ModalityBaggingClassifier",
    "ModalityBaggingRegressor",
    "ModalityExpertClassifier",
    "ModalityStackingClassifier",
    "ModalityStackingRegressor",
    "MultimodalAdaBoostClassifier",
    "SnapshotEnsembleClassifier",
    "ensemble_diversity",
    "make_library",
    "prediction_diversity",
]
