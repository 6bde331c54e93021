"""Synthetic numeric and raw multimodal datasets."""

from skmm.datasets._digits import make_multimodal_digits
from skmm.datasets._synthetic import make_multimodal_classification

__all__ = ["make_multimodal_classification", "make_multimodal_digits"]
