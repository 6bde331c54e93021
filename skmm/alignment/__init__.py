"""Cross-modal alignment: shared spaces for modalities, and retrieval."""

from skmm.alignment._base import retrieve
from skmm.alignment._cca import CCAAligner
from skmm.alignment._fine import align_steps, cross_attention_map
from skmm.alignment._neural import AdversarialAligner, ContrastiveAligner, CycleAligner
from skmm.alignment._plotting import (
    alignment_panel,
    plot_retrieval_curves,
    retrieval_curve,
)

__all__ = [
    "AdversarialAligner",
    "CCAAligner",
    "ContrastiveAligner",
    "CycleAligner",
    "align_steps",
    "alignment_panel",
    "cross_attention_map",
    "plot_retrieval_curves",
    "retrieval_curve",
    "retrieve",
]
