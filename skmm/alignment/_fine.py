"""Fine-grained (explicit) alignment: which steps of one sequence match which
steps of another."""

import numpy as np

from skmm.exceptions import InvalidSampleError

__all__ = ["align_steps", "cross_attention_map"]


def _as_steps(seq, name):
    seq = np.asarray(seq, dtype=np.float64)
    if seq.ndim == 1:
        seq = seq[:, None]
    if seq.ndim != 2 or seq.shape[0] < 1:
        raise ValueError(
            f"{name} must be a (n_steps, n_features) array of at least one step; "
            f"got shape {seq.shape}."
        )
    if not np.isfinite(seq).all():
        raise InvalidSampleError(f"{name} holds NaN or infinite values")
    return seq


def align_steps(a, b=None, *, method="dtw", metric="cosine", attention=None):
    """Which steps of sequence ``a`` align with which steps of sequence ``b``.

    Two ways, behind one helper:

    * ``method="dtw"``: dynamic time warping (:func:`librosa.sequence.dtw`)
      between two feature sequences of the same kind (e.g. two spectrograms,
      ``(frames, mels)``, or two sequences of aligned embeddings), a monotone
      path of matched steps.
    * ``method="attention"``: read a cross-attention map (e.g.
      ``FusionClassifier(fusion="attention").explain_fusion(X)["attention"][i]``)
      as soft alignment: each query row's best-attended key, weights kept.

    Parameters
    ----------
    a : array-like of shape (n_steps_a, n_features) or (n_steps_a,)
        First sequence (``method="dtw"``); ignored for ``"attention"``.
    b : array-like of shape (n_steps_b, n_features), default=None
        Second sequence (``method="dtw"``).
    method : {"dtw", "attention"}, default="dtw"
    metric : str, default="cosine"
        Step distance for DTW (any :func:`scipy.spatial.distance.cdist` metric).
    attention : array-like of shape (n_queries, n_keys), default=None
        The map for ``method="attention"``.

    Returns
    -------
    path : ndarray of shape (n_matches, 2), dtype=int
        Matched ``(step of a, step of b)`` pairs in increasing order (DTW), or
        ``(query, best key)`` per query (attention).
    cost : float or ndarray
        DTW: the accumulated cost of the path divided by its length.
        Attention: the weight of each match, shape ``(n_queries,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.alignment import align_steps
    >>> a = np.array([[0.0, 1], [1, 0], [1, 1]])
    >>> b = np.array([[0.0, 1], [0, 1], [1, 0], [1, 1]])
    >>> path, cost = align_steps(a, b)
    >>> path.tolist()
    [[0, 0], [0, 1], [1, 2], [2, 3]]
    >>> align_steps(None, method="attention", attention=[[0.1, 0.9], [0.7, 0.3]])[0]
    array([[0, 1],
           [1, 0]])
    """
    if method == "attention":
        if attention is None:
            raise ValueError("method='attention' needs the attention map.")
        weights = np.asarray(attention, dtype=np.float64)
        if weights.ndim != 2:
            raise ValueError(
                f"attention must be a 2-D (n_queries, n_keys) map; got shape "
                f"{weights.shape}."
            )
        best = np.nanargmax(weights, axis=1)
        rows = np.arange(weights.shape[0])
        return np.c_[rows, best], weights[rows, best]
    if method != "dtw":
        raise ValueError(f"method must be 'dtw' or 'attention'; got {method!r}.")
    if b is None:
        raise ValueError("method='dtw' needs two sequences a and b.")
    import librosa

    a, b = _as_steps(a, "a"), _as_steps(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"The steps of a and b must have the same number of features; got "
            f"{a.shape[1]} and {b.shape[1]}."
        )
    # librosa expects (features, steps)
    D, wp = librosa.sequence.dtw(X=a.T, Y=b.T, metric=metric)
    path = np.asarray(wp[::-1], dtype=np.intp)
    return path, float(D[-1, -1] / len(path))


def cross_attention_map(estimator, X, *, query_modality, key_modality):
    """Step-level cross-attention between two modalities of an attention fusion.

    Parameters
    ----------
    estimator : fitted FusionClassifier or FusionRegressor
        With ``fusion="attention"``. A modality with a sequence branch
        (``"lstm"``, ``"gru"``, ``"transformer"``) contributes one position per
        step (frame or token); any other branch one position.
    X : array-like of shape (n_samples, n_features)
        Encoded matrix.
    query_modality : str
        The modality whose steps attend (rows of each map).
    key_modality : str
        The modality whose steps are attended to (columns of each map).

    Returns
    -------
    maps : ndarray of shape (n_samples, n_query_steps, n_key_steps)
        Entry ``[i, s, t]``: share of the attention of step ``s`` of
        ``query_modality`` that went to step ``t`` of ``key_modality`` for
        sample ``i`` (heads averaged; the rest went to the other modalities
        and to the null key). Zero where a key step is padding or the key
        modality is absent. Feed one sample's map to
        :func:`align_steps` with ``method="attention"``.

    Examples
    --------
    >>> from skmm.alignment import cross_attention_map
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.fusion import FusionClassifier
    >>> X, y = make_multimodal_classification(40, random_state=0)
    >>> clf = FusionClassifier("attention", hidden_size=8, n_heads=2,
    ...                        max_epochs=1, random_state=0).fit(X, y)
    >>> maps = cross_attention_map(clf, X.iloc[:3], query_modality="text",
    ...                            key_modality="image")
    >>> maps.shape  # "mlp" branches: one position per modality
    (3, 1, 1)
    """
    from skmm.fusion._branches import SEQUENCE_BRANCHES

    info = estimator.explain_fusion(X)
    if "step_attention" not in info:
        raise ValueError(
            f"{type(estimator).__name__} has no step-level attention; fit it "
            "with fusion='attention'."
        )
    names = list(estimator.modalities_)
    for name in (query_modality, key_modality):
        if name not in names:
            raise ValueError(f"Unknown modality {name!r}; the modalities are {names}.")
    lengths = [
        spec.shape[0] if spec.branch in SEQUENCE_BRANCHES else 1
        for spec in estimator._blocks
    ]
    starts = np.concatenate([[0], np.cumsum(lengths)])
    q, k = names.index(query_modality), names.index(key_modality)
    maps = info["step_attention"]
    return maps[:, starts[q] : starts[q + 1], starts[k] : starts[k + 1]]
