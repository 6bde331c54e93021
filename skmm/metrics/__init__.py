"""Metrics: cross-modal retrieval (recall@k, MRR, median rank) and scorers."""

from skmm.metrics._retrieval import (
    make_retrieval_scorer,
    mean_reciprocal_rank,
    median_rank,
    recall_at_k,
    retrieval_ranks,
)

__all__ = [
    "make_retrieval_scorer",
    "mean_reciprocal_rank",
    "median_rank",
    "recall_at_k",
    "retrieval_ranks",
]
