"""The aligner base class, and retrieval through any aligner or Pipeline.

An *aligner* reads the encoded multimodal matrix (named modality blocks, see
:func:`skmm.utils.resolve_modalities`), learns one map per modality into a
shared space from paired samples (no labels needed), and transforms the matrix
into named blocks ``"{modality}__{k}"`` of that space, NaN where the modality
is missing. Retrieval compares the blocks of two modalities by cosine
similarity.
"""

import itertools

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from skmm.exceptions import InvalidSampleError, LayoutError
from skmm.metrics._retrieval import cosine_similarity_rows, make_retrieval_scorer
from skmm.utils import modality_presence, resolve_modalities

__all__ = ["embed_blocks", "modality_pairs", "retrieve"]


def embed_blocks(estimator, X):
    """The aligned blocks of ``X``: ``{modality: (n_samples, n_components)}``.

    Parameters
    ----------
    estimator : fitted aligner, or a fitted Pipeline ending with one
        Anything whose ``transform`` returns ``"{modality}__{k}"`` blocks of
        equal width (the shared space) and that implements
        ``get_feature_names_out``.
    X : array-like or raw table
        What ``estimator.transform`` accepts.

    Returns
    -------
    blocks : dict of str to ndarray of float64
        NaN rows where a modality is missing.
    """
    Z = estimator.transform(X)
    if isinstance(Z, pd.DataFrame):
        Z = Z.to_numpy()
    Z = np.asarray(Z, dtype=np.float64)
    names = estimator.get_feature_names_out()
    layout = resolve_modalities(names, Z.shape[1])
    if len(layout) < 2:
        raise LayoutError(
            f"{type(estimator).__name__}.transform did not return aligned modality "
            f"blocks '{{modality}}__{{k}}' (got one block {list(layout)}); "
            "retrieval needs an aligner (or a Pipeline ending with one)."
        )
    widths = {name: len(cols) for name, cols in layout.items()}
    if len(set(widths.values())) != 1:
        raise LayoutError(
            f"The blocks returned by {type(estimator).__name__} have different "
            f"widths {widths}; they are not in one shared space."
        )
    return {name: Z[:, cols] for name, cols in layout.items()}


def modality_pairs(names, query_modality=None, candidate_modality=None):
    """Ordered (query, candidate) modality pairs to evaluate."""
    for value in (query_modality, candidate_modality):
        if value is not None and value not in names:
            raise LayoutError(
                f"Unknown modality {value!r}; the aligned modalities are {names}."
            )
    pairs = [
        (q, c)
        for q, c in itertools.permutations(names, 2)
        if (query_modality is None or q == query_modality)
        and (candidate_modality is None or c == candidate_modality)
    ]
    if query_modality is not None and query_modality == candidate_modality:
        pairs = [(query_modality, query_modality)]
    return pairs


def retrieve(
    estimator,
    queries,
    candidates=None,
    *,
    query_modality,
    candidate_modality,
    k=10,
):
    """Cross-modal retrieval through a fitted aligner or Pipeline.

    Each query's ``query_modality`` embedding is compared (cosine similarity
    in the aligned space) with the ``candidate_modality`` embedding of every
    candidate. Works with raw tables through a
    ``Pipeline(MultimodalEncoder, aligner)``: query with a table whose
    ``query_modality`` column holds the raw cells (other columns may be
    ``None``).

    Parameters
    ----------
    estimator : estimator instance
        A fitted aligner, or a fitted Pipeline ending with one.
    queries : array-like or raw table
        What ``estimator.transform`` accepts; every query must have its
        ``query_modality``.
    candidates : array-like or raw table, default=None
        Defaults to ``queries`` (e.g. find each image's text in one table).
        Candidates whose ``candidate_modality`` is missing are never returned.
    query_modality : str
        The modality of the queries (a key of the aligner's ``modalities_``).
    candidate_modality : str
        The modality of the candidates (a key of the aligner's
        ``modalities_``).
    k : int, default=10
        Number of candidates returned per query (at most the number of
        retrievable candidates).

    Returns
    -------
    indices : ndarray of shape (n_queries, k), dtype=int
        Row positions in ``candidates``, best first.
    scores : ndarray of shape (n_queries, k)
        Their cosine similarities.

    Raises
    ------
    InvalidSampleError
        If a query lacks its ``query_modality``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmm.alignment import CCAAligner, retrieve
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, _ = make_multimodal_classification(
    ...     60, modalities={"text": 4, "image": 4}, random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), CCAAligner(n_components=2))
    >>> pipe = pipe.set_output(transform="pandas").fit(X)  # keeps the names
    >>> idx, sim = retrieve(pipe, X.iloc[:3], X, query_modality="text",
    ...                     candidate_modality="image", k=5)
    >>> idx.shape, sim.shape
    ((3, 5), (3, 5))
    """
    from skmm.metrics._retrieval import _check_k

    k = _check_k(k)
    qblocks = embed_blocks(estimator, queries)
    cblocks = qblocks if candidates is None else embed_blocks(estimator, candidates)
    modality_pairs(list(qblocks), query_modality, candidate_modality)
    if query_modality is None or candidate_modality is None:
        raise ValueError("Pass query_modality and candidate_modality.")
    Q = qblocks[query_modality]
    C = cblocks[candidate_modality]
    missing = np.isnan(Q).any(axis=1)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        more = int(missing.sum()) - 1
        raise InvalidSampleError(
            f"query modality {query_modality!r} is missing; a query needs it"
            + (f" ({more} more such queries)" if more else ""),
            index=i,
        )
    usable = ~np.isnan(C).any(axis=1)
    if not usable.any():
        raise ValueError(
            f"No candidate has modality {candidate_modality!r}; nothing to retrieve."
        )
    S = np.full((Q.shape[0], C.shape[0]), -np.inf)
    S[:, usable] = cosine_similarity_rows(Q, C[usable])
    k = min(k, int(usable.sum()))
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(S, order, axis=1)


class _BaseAligner(TransformerMixin, BaseEstimator):
    """Shared machinery of the aligners.

    Subclasses implement ``_fit_aligner(X, present)`` (``X`` validated, float;
    ``present`` the ``(n, M)`` presence mask of ``self.modalities_``), which
    returns the width of the shared space, and ``_embed(X, present)``, which
    returns ``{modality: (n_present_rows, n_components)}`` embeddings of the
    rows where each modality is present.
    """

    #: dtype of the validated matrix
    _dtype = np.float64

    _EXPECTED_FAILED_CHECKS = {
        "check_estimators_pickle": (
            "the check scatters single NaN values over the blocks of plain "
            "numeric X; skmm rejects a partly-NaN modality block "
            "(InvalidSampleError) by design, a missing modality is an all-NaN "
            "block. Round trips with missing modalities are tested in "
            "tests/test_alignment.py."
        ),
        "check_fit2d_1feature": (
            "an aligner needs two modality blocks, so one column is rejected "
            "with a LayoutError naming the empty modality."
        ),
    }

    # -- fit ---------------------------------------------------------------
    def _validate_train(self, X):
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=self._dtype)
        feature_names = getattr(self, "feature_names_in_", None)
        layout = resolve_modalities(feature_names, X.shape[1], self.modalities)
        if len(layout) < 2:
            raise LayoutError(
                f"{type(self).__name__} aligns two or more modalities, but X "
                f"resolved to one block {list(layout)}. Name the columns "
                "'{modality}__{feature}' (as MultimodalEncoder does) or pass "
                "modalities={name: columns}."
            )
        present = modality_presence(X, layout)
        co = present.astype(np.int64).T @ present.astype(np.int64)
        np.fill_diagonal(co, 0)
        if not co.any():
            counts = dict(zip(layout, present.sum(axis=0).tolist()))
            raise ValueError(
                f"No sample has two modalities present (samples per modality: "
                f"{counts}); an aligner learns from paired samples."
            )
        return X, layout, present

    def _set_output_names(self, n_components):
        self.n_components_ = int(n_components)
        self._feature_names_out = np.asarray(
            [f"{m}__{k}" for m in self.modalities_ for k in range(n_components)],
            dtype=object,
        )

    # -- transform ---------------------------------------------------------
    def _validate_apply(self, X):
        check_is_fitted(self)
        X = validate_data(
            self, X, reset=False, ensure_all_finite="allow-nan", dtype=self._dtype
        )
        return X, modality_presence(X, self.modalities_)

    def transform(self, X):
        """Embed every present modality block into the shared space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix with the training layout; missing modalities as
            all-NaN blocks.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_modalities * n_components)
            ``n_components_`` columns per modality: blocks
            ``"{modality}__{k}"`` (see :meth:`get_feature_names_out`), NaN
            where the modality is missing.
        """
        X, present = self._validate_apply(X)
        d = self.n_components_
        Z = np.full((X.shape[0], d * len(self.modalities_)), np.nan)
        embedded = self._embed(X, present)
        for j, name in enumerate(self.modalities_):
            Z[present[:, j], j * d : (j + 1) * d] = embedded[name]
        return Z

    def get_feature_names_out(self, input_features=None):
        """Get the names of the aligned features, ``"{modality}__{k}"``.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Ignored (checked against ``feature_names_in_`` when given).

        Returns
        -------
        names : ndarray of str
            One name per column of :meth:`transform`'s output, modality by
            modality.
        """
        check_is_fitted(self)
        from skmm.utils._sklearn_compat import _check_feature_names_in

        _check_feature_names_in(self, input_features, generate_names=False)
        return self._feature_names_out.copy()

    def retrieve(
        self, queries, candidates=None, *, query_modality, candidate_modality, k=10
    ):
        """Cross-modal retrieval in the shared space (see :func:`retrieve`).

        Parameters
        ----------
        queries : array-like of shape (n_queries, n_features)
            Encoded matrix (training layout) holding the query modality.
        candidates : array-like of shape (n_candidates, n_features), default=None
            Encoded matrix holding the candidate modality. Defaults to
            ``queries``.
        query_modality : str
            The modality of ``queries`` that is embedded as the query.
        candidate_modality : str
            The modality of ``candidates`` that is searched.
        k : int, default=10
            Number of candidates returned per query (at most the number of
            candidates that have ``candidate_modality``).

        Returns
        -------
        indices : ndarray of shape (n_queries, k)
            Row indices into ``candidates`` of the ``k`` nearest candidates,
            best first.
        scores : ndarray of shape (n_queries, k)
            Cosine similarities, best first.
        """
        return retrieve(
            self,
            queries,
            candidates,
            query_modality=query_modality,
            candidate_modality=candidate_modality,
            k=k,
        )

    def score(self, X, y=None):
        """Mean reciprocal rank of cross-modal retrieval on ``X``.

        Averaged over every ordered pair of modalities, among the samples where
        both are present; by identity (each sample's other modality is its
        match), or by label when ``y`` is given. Greater is better, so
        ``GridSearchCV`` tunes an aligner without labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix with the training layout; missing modalities as
            all-NaN blocks.
        y : array-like of shape (n_samples,), default=None
            Labels: a candidate matches a query when they share the label. By
            default each sample's other modality is its only match.

        Returns
        -------
        score : float in [0, 1]
            The mean reciprocal rank (greater is better).
        """
        return make_retrieval_scorer("mean_reciprocal_rank")(self, X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        tags.requires_fit = True
        return tags
