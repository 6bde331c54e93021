"""skmm: multimodal learning (text, image, audio) with a scikit-learn API.

Subpackages
-----------
encoders
    One-modality transformers (text, image, audio).
compose
    :class:`~skmm.compose.MultimodalEncoder`: raw table -> named modality blocks.
alignment
    Cross-modal aligners (CCA, contrastive, adversarial, cycle) and retrieval.
fusion
    skorch-trained fusion networks, including fine-tuned pretrained backbones.
ensemble
    Modality-aware Bagging, AdaBoost, Stacking and ensemble selection.
datasets
    Synthetic numeric and raw multimodal datasets.
io
    Safe model files: :func:`skmm.io.dump` / :func:`skmm.io.load` (no code on load).
metrics
    Retrieval metrics and scorers (recall@k, mean reciprocal rank, median rank).
robustness
    Corruptions of raw tables, robustness curves and modality importance.
utils
    The data contract helpers, estimator discovery and conformance checks.
"""

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "alignment",
    "compose",
    "datasets",
    "encoders",
    "ensemble",
    "exceptions",
    "fusion",
    "io",
    "metrics",
    "robustness",
    "utils",
]
