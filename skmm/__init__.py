"""skmm: multimodal learning (text, image, audio) with a scikit-learn API.

Subpackages
-----------
encoders
    One-modality transformers (text, image, audio).
compose
    :class:`~skmm.compose.MultimodalEncoder`: raw table -> named modality blocks.
fusion
    skorch-trained fusion networks.
ensemble
    Modality-aware Bagging, AdaBoost, Stacking and ensemble selection.
datasets
    Synthetic numeric and raw multimodal datasets.
io
    Safe model files: :func:`skmm.io.dump` / :func:`skmm.io.load` (no code on load).
utils
    The data contract helpers, estimator discovery and conformance checks.
"""

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "compose",
    "datasets",
    "encoders",
    "ensemble",
    "exceptions",
    "fusion",
    "io",
    "utils",
]
