"""Robustness to noisy and missing modalities: corruptions and their evaluation."""

from skmm.robustness._corruptions import (
    CORRUPTIONS,
    corrupt_column,
    corrupt_modalities,
    drop_modalities,
    misalign_modalities,
)
from skmm.robustness._transformers import Corruption, ModalityCorruptor

__all__ = [
    "CORRUPTIONS",
    "Corruption",
    "ModalityCorruptor",
    "corrupt_column",
    "corrupt_modalities",
    "drop_modalities",
    "misalign_modalities",
]
