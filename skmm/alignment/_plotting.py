"""Retrieval curves (recall@k for a range of k) and their plot: the alignment
panel of the demo and the gallery."""

import numpy as np

from skmm.alignment._base import embed_blocks
from skmm.metrics._retrieval import cosine_similarity_rows, retrieval_ranks

__all__ = ["alignment_panel", "plot_retrieval_curves", "retrieval_curve"]


def retrieval_curve(
    estimator, X, y=None, *, query_modality, candidate_modality, ks=None
):
    """Recall@k of cross-modal retrieval among the samples of ``X``.

    Parameters
    ----------
    estimator : estimator instance
        A fitted aligner, or a fitted Pipeline ending with one.
    X : array-like or raw table
        Samples with both modalities present are used (the others are
        skipped).
    y : array-like of shape (n_samples,), default=None
        Match by label; None: by identity.
    query_modality : str
        The modality of the queries.
    candidate_modality : str
        The modality searched for each query.
    ks : sequence of int, default=None
        Default ``1, 2, 5, 10, 20, 50`` (up to the number of candidates).

    Returns
    -------
    ks : ndarray of int
        The values of ``k`` kept (those not above the number of candidates).
    recall : ndarray of float
        Recall@k for each of ``ks``: the fraction of queries with a match
        among their ``k`` best candidates.

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
        Axes to draw on (a new figure when None).
    title : str, default=None
        Title of the axes (none when None).

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on (log-scaled k, one line per curve).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skmm.alignment import plot_retrieval_curves
    >>> curves = {"CCA": (np.array([1, 5, 10]), np.array([0.4, 0.7, 0.9]))}
    >>> ax = plot_retrieval_curves(curves, chance=lambda k: k / 20)
    >>> len(ax.get_lines())  # the curve and the chance line
    2
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


def _two_view_digits():
    import pandas as pd
    from sklearn.datasets import load_digits

    digits = load_digits()
    n = len(digits.target)
    X = pd.DataFrame(
        np.hstack(
            [digits.images[:, :4].reshape(n, -1), digits.images[:, 4:].reshape(n, -1)]
        ),
        columns=[f"top__p{i}" for i in range(32)]
        + [f"bottom__p{i}" for i in range(32)],
    )
    return X, digits.target


def alignment_panel(
    X=None,
    y=None,
    *,
    aligners=None,
    query_modality=None,
    candidate_modality=None,
    test_size=0.3,
    ax=None,
    random_state=0,
):
    """Fit aligners without labels and plot held-out recall@k (a demo panel).

    Parameters
    ----------
    X : DataFrame of shape (n_samples, n_features), default=None
        Encoded matrix with two or more modality blocks. Default: the top and
        bottom halves of scikit-learn's 8x8 digits (bundled, offline), a pair
        of views that share the digit.
    y : array-like of shape (n_samples,), default=None
        Labels to match retrievals by (default: by identity; the digits'
        labels with the default data).
    aligners : dict of str to aligner, default=None
        Default: ``CCAAligner`` and a small ``ContrastiveAligner``.
    query_modality, candidate_modality : str, default=None
        Default: the first two modalities.
    test_size : float, default=0.3
        Fraction of the samples held out to measure retrieval on (the
        aligners are fitted on the rest).
    ax : matplotlib Axes, default=None
        Axes to draw on (a new figure when None).
    random_state : int, default=0
        Seed of the train/test split (and of the default contrastive
        aligner).

    Returns
    -------
    ax : matplotlib Axes
        The axes with the curves (see :func:`plot_retrieval_curves`).
    curves : dict of str to (ks, recall)
        Held-out :func:`retrieval_curve` of each aligner, by name.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmm.alignment import CCAAligner, alignment_panel
    >>> ax, curves = alignment_panel(aligners={"CCA": CCAAligner(4)})
    >>> round(float(curves["CCA"][1][0]), 2) > 0.3  # recall@1, chance 0.1
    True
    """
    from sklearn.model_selection import train_test_split

    from skmm.alignment._cca import CCAAligner
    from skmm.alignment._neural import ContrastiveAligner
    from skmm.utils import resolve_modalities

    if X is None:
        X, y = _two_view_digits()
    if aligners is None:
        aligners = {
            "CCA": CCAAligner(8, regularization="auto"),
            "contrastive": ContrastiveAligner(
                16, hidden_size=32, max_epochs=15, lr=3e-3, random_state=random_state
            ),
        }
    names = list(resolve_modalities(getattr(X, "columns", None), X.shape[1]))
    query_modality = query_modality or names[0]
    candidate_modality = candidate_modality or names[1]
    split = train_test_split(
        X,
        *([] if y is None else [np.asarray(y)]),
        test_size=test_size,
        random_state=random_state,
    )
    X_train, X_test = split[0], split[1]
    y_test = None if y is None else split[3]
    curves = {}
    for name, aligner in aligners.items():
        aligner.fit(X_train)
        curves[name] = retrieval_curve(
            aligner,
            X_test,
            y_test,
            query_modality=query_modality,
            candidate_modality=candidate_modality,
        )
    if y_test is None:
        n = len(X_test)

        def chance(k):
            return min(1.0, k / n)
    else:
        share = np.bincount(np.unique(y_test, return_inverse=True)[1]) / len(y_test)

        def chance(k):
            return float(np.sum(share * (1 - (1 - share) ** k)))

    ax = plot_retrieval_curves(
        curves,
        chance=chance,
        ax=ax,
        title=f"{query_modality} -> {candidate_modality} (held out)",
    )
    return ax, curves
