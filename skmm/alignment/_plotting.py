"""Retrieval curves (recall@k for a range of k) and their plot: the alignment
panel of the demo and the gallery."""

import numpy as np

from skmm.alignment._base import embed_blocks
from skmm.metrics._retrieval import cosine_similarity_rows, retrieval_ranks

__all__ = ["plot_retrieval_curves", "retrieval_curve"]


def retrieval_curve(
    estimator, X, y=None, *, query_modality, candidate_modality, ks=None
):
    """Recall@k of cross-modal retrieval among the samples of ``X``.

    Parameters
    ----------
    estimator : fitted aligner, or fitted Pipeline ending with one
    X : array-like or raw table
        Samples with both modalities present are used (the others are
        skipped).
    y : array-like of shape (n_samples,), default=None
        Match by label; None: by identity.
    query_modality, candidate_modality : str
    ks : sequence of int, default=None
        Default ``1, 2, 5, 10, 20, 50`` (up to the number of candidates).

    Returns
    -------
    ks : ndarray of int
    recall : ndarray of float

    Examples
    --------
    >>> from skmm.alignment import CCAAligner, retrieval_curve
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, _ = make_multimodal_classification(
    ...     50, modalities={"a": 3, "b": 3}, random_state=0)
    >>> ks, recall = retrieval_curve(CCAAligner(2).fit(X), X,
    ...                              query_modality="a", candidate_modality="b")
    >>> ks.tolist(), bool((recall[1:] >= recall[:-1]).all())
    ([1, 2, 5, 10, 20, 50], True)
    """
    blocks = embed_blocks(estimator, X)
    Q, C = blocks[query_modality], blocks[candidate_modality]
    rows = np.flatnonzero(~np.isnan(Q).any(axis=1) & ~np.isnan(C).any(axis=1))
    if rows.size == 0:
        raise ValueError(
            f"No sample has both {query_modality!r} and {candidate_modality!r}."
        )
    S = cosine_similarity_rows(Q[rows], C[rows])
    labels = {}
    if y is not None:
        y = np.asarray(y)[rows]
        labels = {"query_labels": y, "candidate_labels": y}
    ranks = retrieval_ranks(S, **labels)
    ks = np.asarray([1, 2, 5, 10, 20, 50] if ks is None else ks, dtype=int)
    ks = ks[ks <= rows.size]
    return ks, np.array([np.mean(ranks <= k) for k in ks])


def plot_retrieval_curves(curves, *, chance=None, ax=None, title=None):
    """Plot recall@k curves, e.g. one per aligner (the demo's alignment panel).

    Parameters
    ----------
    curves : dict of str to (ks, recall)
        As returned by :func:`retrieval_curve`, by name.
    chance : callable or None, default=None
        ``chance(k)``: the recall@k of random ranking, drawn dashed.
    ax : matplotlib Axes, default=None
    title : str, default=None

    Returns
    -------
    ax : matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, (ks, recall) in curves.items():
        ax.plot(ks, recall, marker="o", label=name)
    if chance is not None and curves:
        ks = np.unique(np.concatenate([k for k, _ in curves.values()]))
        ax.plot(ks, [chance(k) for k in ks], "k--", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax
