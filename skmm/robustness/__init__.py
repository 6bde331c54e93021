"""Robustness to noisy and missing modalities: corruptions and their evaluation."""

from skmm.robustness._corruptions import (
    CORRUPTIONS,
    corrupt_column,
    corrupt_modalities,
    drop_modalities,
    misalign_modalities,
)
from skmm.robustness._evaluation import (
    effective_robustness,
    modality_importance,
    relative_robustness,
    robustness_curve,
    robustness_summary,
)
from skmm.robustness._plotting import (
    ModalityImportanceDisplay,
    RobustnessDisplay,
    plot_robustness_comparison,
)
from skmm.robustness._transformers import Corruption, ModalityCorruptor

__all__ = [
    "CORRUPTIONS",
    "Corruption",
    "ModalityCorruptor",
    "ModalityImportanceDisplay",
    "RobustnessDisplay",
    "corrupt_column",
    "corrupt_modalities",
    "drop_modalities",
    "effective_robustness",
    "misalign_modalities",
    "modality_importance",
    "plot_robustness_comparison",
    "relative_robustness",
    "robustness_curve",
    "robustness_summary",
]
