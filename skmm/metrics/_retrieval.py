"""Retrieval metrics over a query x candidate similarity matrix, and scorers.

A retrieval task ranks ``n_candidates`` candidates for each of ``n_queries``
queries by a similarity score (higher is closer). A candidate is *relevant* to a
query

* by identity (``query_labels=None``): candidate ``i`` is the one match of query
  ``i`` (the other modality of the same sample), so the candidates are the
  queries' own partners, in the same order;
* by label: every candidate whose label equals the query's label.

The rank of a query is the 1-based position of its best-placed relevant
candidate. Ties are counted against the query (an irrelevant candidate with the
same score as the best relevant one is ranked first), so a model that gives
every candidate the same score gets the worst rank, never a lucky one.
"""

import numbers

import numpy as np
from sklearn.utils.validation import check_array

__all__ = [
    "make_retrieval_scorer",
    "mean_reciprocal_rank",
    "median_rank",
    "recall_at_k",
    "retrieval_ranks",
]


def _check_labels(labels, n, what):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(
            f"{what} must be 1-D with one label per row ({n}); got shape "
            f"{labels.shape}."
        )
    return labels


def retrieval_ranks(similarity, *, query_labels=None, candidate_labels=None):
    """1-based rank of the first relevant candidate of each query.

    Parameters
    ----------
    similarity : array-like of shape (n_queries, n_candidates)
        Score of each candidate for each query, higher is closer. ``-inf``
        marks a candidate that cannot be retrieved (e.g. its modality is
        missing); NaN is an error.
    query_labels, candidate_labels : array-like of shape (n_queries,) and \
(n_candidates,), default=None
        Match by label. Both None: match by identity (query ``i`` matches
        candidate ``i``; needs ``n_candidates >= n_queries``).

    Returns
    -------
    ranks : ndarray of shape (n_queries,), dtype=float
        ``inf`` for a query without any relevant (retrievable) candidate.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.metrics import retrieval_ranks
    >>> S = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.3, 0.3]])
    >>> retrieval_ranks(S).tolist()
    [1.0, 2.0, 2.0]
    >>> labels = dict(query_labels=[0, 1, 1], candidate_labels=[1, 1, 0])
    >>> retrieval_ranks(S, **labels).tolist()  # a tie counts against the query
    [2.0, 1.0, 2.0]
    """
    S = check_array(similarity, ensure_all_finite=False, dtype=np.float64)
    if np.isnan(S).any():
        raise ValueError(
            "similarity contains NaN; mark candidates that cannot be retrieved "
            "with -inf and drop queries that cannot be asked."
        )
    n_q, n_c = S.shape
    if (query_labels is None) != (candidate_labels is None):
        raise ValueError(
            "Pass both query_labels and candidate_labels (match by label) or "
            "neither (match by identity)."
        )
    if query_labels is None:
        if n_c < n_q:
            raise ValueError(
                f"Matching by identity needs a candidate for every query: got "
                f"{n_q} queries and {n_c} candidates."
            )
        relevant = np.zeros((n_q, n_c), dtype=bool)
        relevant[np.arange(n_q), np.arange(n_q)] = True
    else:
        q = _check_labels(query_labels, n_q, "query_labels")
        c = _check_labels(candidate_labels, n_c, "candidate_labels")
        relevant = q[:, None] == c[None, :]
    relevant &= S > -np.inf
    best = np.where(relevant, S, -np.inf).max(axis=1)
    ahead = ((S >= best[:, None]) & ~relevant & (S > -np.inf)).sum(axis=1)
    ranks = 1.0 + ahead
    ranks[~relevant.any(axis=1)] = np.inf
    return ranks


def _check_k(k):
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}.")
    return int(k)


def recall_at_k(similarity, k=1, *, query_labels=None, candidate_labels=None):
    """Share of queries with a relevant candidate among their top ``k``.

    Parameters
    ----------
    similarity : array-like of shape (n_queries, n_candidates)
        See :func:`retrieval_ranks`.
    k : int, default=1
        Number of top-ranked candidates in which a relevant one counts.
    query_labels, candidate_labels : array-like, default=None
        Match by label; None: by identity.

    Returns
    -------
    recall : float in [0, 1]
        Fraction of the queries whose first relevant candidate has rank at
        most ``k``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.metrics import recall_at_k
    >>> S = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.3, 0.3]])
    >>> recall_at_k(S, k=1), recall_at_k(S, k=2)
    (0.333..., 1.0)
    """
    k = _check_k(k)
    ranks = retrieval_ranks(
        similarity, query_labels=query_labels, candidate_labels=candidate_labels
    )
    return float(np.mean(ranks <= k))


def mean_reciprocal_rank(similarity, *, query_labels=None, candidate_labels=None):
    """Mean of ``1 / rank`` over the queries (0 for a query with no match).

    Parameters
    ----------
    similarity : array-like of shape (n_queries, n_candidates)
        Score of each candidate for each query, higher is closer (see
        :func:`retrieval_ranks`).
    query_labels, candidate_labels : array-like, default=None
        Match by label; None: by identity.

    Returns
    -------
    mrr : float in [0, 1]
        The mean reciprocal rank of the first relevant candidate (greater is
        better).

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.metrics import mean_reciprocal_rank
    >>> S = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.3, 0.3]])
    >>> round(mean_reciprocal_rank(S), 4)
    0.6667
    """
    ranks = retrieval_ranks(
        similarity, query_labels=query_labels, candidate_labels=candidate_labels
    )
    return float(np.mean(1.0 / ranks))


def median_rank(similarity, *, query_labels=None, candidate_labels=None):
    """Median rank of the first relevant candidate (lower is better).

    Parameters
    ----------
    similarity : array-like of shape (n_queries, n_candidates)
        Score of each candidate for each query, higher is closer (see
        :func:`retrieval_ranks`).
    query_labels, candidate_labels : array-like, default=None
        Match by label; None: by identity.

    Returns
    -------
    rank : float
        The median over the queries of the 1-based rank of their first
        relevant candidate (``inf`` counts for a query without one).

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.metrics import median_rank
    >>> S = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.3, 0.3]])
    >>> median_rank(S)
    2.0
    """
    ranks = retrieval_ranks(
        similarity, query_labels=query_labels, candidate_labels=candidate_labels
    )
    return float(np.median(ranks))


_METRICS = {
    "recall_at_k": (recall_at_k, 1.0),
    "mean_reciprocal_rank": (mean_reciprocal_rank, 1.0),
    "median_rank": (median_rank, -1.0),
}


class _RetrievalScorer:
    """A GridSearchCV scorer ``scorer(estimator, X, y=None)`` for aligners."""

    def __init__(self, metric, k, query_modality, candidate_modality, match):
        self.metric = metric
        self.k = k
        self.query_modality = query_modality
        self.candidate_modality = candidate_modality
        self.match = match

    def __call__(self, estimator, X, y=None):
        from skmm.alignment._base import embed_blocks, modality_pairs

        labels = None
        if self.match == "label" or (self.match == "auto" and y is not None):
            if y is None:
                raise ValueError("match='label' needs y in the scorer call.")
            labels = np.asarray(y)
        blocks = embed_blocks(estimator, X)
        pairs = modality_pairs(
            list(blocks), self.query_modality, self.candidate_modality
        )
        func, sign = _METRICS[self.metric]
        kwargs = {"k": self.k} if self.metric == "recall_at_k" else {}
        values = []
        for qm, cm in pairs:
            S, rows = _pair_similarity(blocks[qm], blocks[cm])
            if S is None:
                continue
            lab = (
                {}
                if labels is None
                else {"query_labels": labels[rows], "candidate_labels": labels[rows]}
            )
            values.append(func(S, **lab, **kwargs))
        if not values:
            raise ValueError(
                "No sample has both modalities of any scored pair present; "
                "cannot compute a retrieval score."
            )
        return sign * float(np.mean(values))

    def __repr__(self):
        return (
            f"make_retrieval_scorer({self.metric!r}, k={self.k}, "
            f"query_modality={self.query_modality!r}, "
            f"candidate_modality={self.candidate_modality!r}, match={self.match!r})"
        )


def _pair_similarity(Q, C):
    """Cosine similarity on the rows where both embeddings are present."""
    rows = np.flatnonzero(~np.isnan(Q).any(axis=1) & ~np.isnan(C).any(axis=1))
    if rows.size == 0:
        return None, rows
    return cosine_similarity_rows(Q[rows], C[rows]), rows


def cosine_similarity_rows(Q, C):
    Qn = Q / np.maximum(np.linalg.norm(Q, axis=1, keepdims=True), 1e-12)
    Cn = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
    return Qn @ Cn.T


def make_retrieval_scorer(
    metric="mean_reciprocal_rank",
    *,
    k=1,
    query_modality=None,
    candidate_modality=None,
    match="auto",
):
    """Make a scorer that GridSearchCV accepts, from a retrieval metric.

    The scorer transforms ``X`` with the estimator (an aligner or a Pipeline
    ending with one), reads the aligned ``"{modality}__{k}"`` blocks, and
    scores cross-modal retrieval among the samples of ``X`` where both
    modalities are present (cosine similarity): for one query/candidate pair
    of modalities, or averaged over every ordered pair when they are None.

    Parameters
    ----------
    metric : {"mean_reciprocal_rank", "recall_at_k", "median_rank"}, \
default="mean_reciprocal_rank"
        ``median_rank`` is negated (greater is better for scorers).
    k : int, default=1
        For ``recall_at_k``.
    query_modality, candidate_modality : str, default=None
        The pair of modalities to score; None = every ordered pair.
    match : {"auto", "identity", "label"}, default="auto"
        ``"auto"``: by label when the scorer gets ``y``, else by identity.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``: the metric of the
        retrieval through ``estimator`` among the samples of ``X``.

    Examples
    --------
    >>> from skmm.metrics import make_retrieval_scorer
    >>> make_retrieval_scorer("recall_at_k", k=5)
    make_retrieval_scorer('recall_at_k', k=5, query_modality=None, ...)
    """
    if metric not in _METRICS:
        raise ValueError(
            f"Unknown retrieval metric {metric!r}; expected one of {sorted(_METRICS)}."
        )
    if match not in ("auto", "identity", "label"):
        raise ValueError(f"match must be 'auto', 'identity' or 'label'; got {match!r}.")
    return _RetrievalScorer(
        metric, _check_k(k), query_modality, candidate_modality, match
    )
