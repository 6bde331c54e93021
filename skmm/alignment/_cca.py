"""Canonical correlation analysis between modality blocks."""

import numbers
import warnings

import numpy as np
from scipy import linalg
from sklearn.covariance import ledoit_wolf_shrinkage
from sklearn.cross_decomposition import CCA
from sklearn.utils.extmath import svd_flip

from skmm.alignment._base import _BaseAligner
from skmm.utils._sklearn_compat import Interval, StrOptions, _fit_context

__all__ = ["CCAAligner"]


def _standardize_stats(X, scale):
    mean = X.mean(axis=0)
    if scale:
        std = X.std(axis=0, ddof=1)
        std[std == 0.0] = 1.0
    else:
        std = np.ones(X.shape[1])
    return mean, std


def _shrinkage(Xs, regularization):
    if regularization == "auto":
        # Ledoit-Wolf estimate of the shrinkage towards a scaled identity
        return float(ledoit_wolf_shrinkage(Xs, assume_centered=True))
    return float(regularization)


def gcca(blocks, n_components, shrinkage):
    """Regularised MAXVAR generalized CCA of centred blocks.

    Finds ``G`` (``n x n_components``, orthonormal columns) maximising
    ``sum_m trace(G' P_m G)`` with ``P_m = X_m C_m^-1 X_m' / (n - 1)`` and the
    shrunk covariance ``C_m = (1 - r_m) X_m'X_m / (n - 1) + r_m I``. With two
    blocks and ``r = 0`` the eigenvalues are ``1 + rho_k`` (``rho_k`` the
    canonical correlations) and ``X_m W_m`` are the canonical variates.

    Parameters
    ----------
    blocks : list of ndarray of shape (n, p_m)
        Centred (and possibly scaled) blocks, complete rows.
    n_components : int
    shrinkage : list of float in [0, 1]

    Returns
    -------
    weights : list of ndarray of shape (p_m, n_components)
        ``X_m @ weights[m]`` are the block's variates (unit variance scale).
    eigenvalues : ndarray of shape (n_components,)
    """
    n = blocks[0].shape[0]
    factors, parts = [], []
    for X, r in zip(blocks, shrinkage):
        U, s, Vt = linalg.svd(X, full_matrices=False)
        keep = s > s[0] * max(X.shape) * np.finfo(float).eps if s.size else s > 0
        U, s, Vt = U[:, keep], s[keep], Vt[keep]
        e = s**2 / (n - 1)
        denom = (1.0 - r) * e + r
        factors.append((s, Vt, denom))
        parts.append(U * np.sqrt(e / denom))
    A = np.hstack(parts)
    G, sigma, _ = linalg.svd(A, full_matrices=False)
    G = G[:, :n_components]
    G, _ = svd_flip(G, np.eye(G.shape[1]))
    eigenvalues = sigma[:n_components] ** 2
    weights = []
    for X, (s, Vt, denom) in zip(blocks, factors):
        # W = C^-1 X' G / (n - 1) * sqrt(n - 1), via the SVD of X
        U = X @ Vt.T / s
        W = Vt.T @ ((s / denom)[:, None] * (U.T @ G)) / np.sqrt(n - 1)
        weights.append(W)
    return weights, eigenvalues


class CCAAligner(_BaseAligner):
    """Canonical correlation analysis: a linear shared space for 2+ modalities.

    With two modalities and no regularisation this is
    :class:`sklearn.cross_decomposition.CCA` (fitted as ``cca_``): the
    canonical variates of each block are its aligned embedding. With three or
    more modalities, or with ``regularization``, it is regularised
    generalized CCA (MAXVAR): one set of shared components ``G`` that every
    block's linear projection ``X_m W_m`` approximates, the canonical-ridge
    covariance ``(1 - r) C_m + r I`` keeping wide blocks (more columns than
    samples) well-posed.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the shared space; at most the narrowest block's width.
    regularization : float in [0, 1] or "auto", default=0.0
        Shrinkage ``r`` of each block's covariance towards the identity (on
        standardized blocks). ``"auto"``: the Ledoit-Wolf shrinkage estimate,
        per block. Use it when a block has about as many columns as there are
        paired samples, or more.
    scale : bool, default=True
        Standardize each column (training mean and std) before the projection.
    max_iter : int, default=500
        NIPALS iterations of sklearn's CCA (two modalities, no regularisation).
    tol : float, default=1e-6
        Tolerance of sklearn's CCA.
    modalities : dict, default=None
        Explicit layout ``{modality: columns}`` when the column names carry no
        ``"{modality}__"`` prefix (see :func:`skmm.utils.resolve_modalities`).

    Attributes
    ----------
    modalities_ : dict of str to ndarray of int
        Column positions of each modality.
    n_components_ : int
    canonical_correlations_ : ndarray of shape (n_components,) or None
        Correlation of the two blocks' variates on the training pairs (two
        modalities), else None.
    eigenvalues_ : ndarray of shape (n_components,) or None
        MAXVAR eigenvalues (sum of the blocks' explained shares of each
        shared component; ``1 + rho`` for two blocks); None when sklearn's CCA
        was used.
    shrinkage_ : dict of str to float
        The shrinkage used per modality.
    cca_ : sklearn.cross_decomposition.CCA or None
        The fitted sklearn model (two modalities, no regularisation).
    weights_ : dict of str to ndarray of shape (width, n_components)
        Projection of each standardized block.
    n_iter_ : int
        NIPALS iterations of the slowest component (sklearn's CCA), 1 for
        the closed-form generalized solver.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    ContrastiveAligner : A non-linear shared space trained with InfoNCE.
    sklearn.cross_decomposition.CCA : The two-block model used here.

    Notes
    -----
    CCA needs all modalities of a sample to learn from it: it is fitted on the
    samples where every modality is present (at least ``n_components + 1``);
    the others are still transformed (each present block on its own).

    References
    ----------
    .. [1] Hotelling, H. "Relations between two sets of variates." Biometrika,
       1936.
    .. [2] Kettenring, J. R. "Canonical analysis of several sets of variables."
       Biometrika, 1971.
    .. [3] Vinod, H. D. "Canonical ridge and econometrics of joint production."
       Journal of Econometrics, 1976.

    Examples
    --------
    >>> from skmm.alignment import CCAAligner
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, _ = make_multimodal_classification(
    ...     80, modalities={"text": 5, "image": 4}, random_state=0)
    >>> aligner = CCAAligner(n_components=2).fit(X)
    >>> aligner.transform(X).shape
    (80, 4)
    >>> aligner.get_feature_names_out().tolist()
    ['text__0', 'text__1', 'image__0', 'image__1']
    """

    _parameter_constraints = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "regularization": [
            Interval(numbers.Real, 0, 1, closed="both"),
            StrOptions({"auto"}),
        ],
        "scale": ["boolean"],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "modalities": [dict, None],
    }

    def __init__(
        self,
        n_components=2,
        *,
        regularization=0.0,
        scale=True,
        max_iter=500,
        tol=1e-6,
        modalities=None,
    ):
        self.n_components = n_components
        self.regularization = regularization
        self.scale = scale
        self.max_iter = max_iter
        self.tol = tol
        self.modalities = modalities

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the canonical projections on the fully paired samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix, two or more modality blocks.
        y : None
            Ignored.

        Returns
        -------
        self : CCAAligner
            The fitted aligner.
        """
        X, layout, present = self._validate_train(X)
        complete = present.all(axis=1)
        n = int(complete.sum())
        names = list(layout)
        widths = {m: len(c) for m, c in layout.items()}
        if n < self.n_components + 1 or n < 2:
            raise ValueError(
                f"CCAAligner learns from samples with every modality {names} "
                f"present; got {n} sample{'' if n == 1 else 's'}, need at least "
                f"{max(2, self.n_components + 1)}."
            )
        if self.n_components > min(widths.values()):
            raise ValueError(
                f"n_components={self.n_components} exceeds the narrowest block "
                f"(widths {widths})."
            )
        stats, blocks = {}, []
        for name, cols in layout.items():
            values = X[complete][:, cols]
            mean, std = _standardize_stats(values, self.scale)
            stats[name] = (mean, std)
            blocks.append((values - mean) / std)
        shrinkage = {
            name: _shrinkage(block, self.regularization)
            for name, block in zip(names, blocks)
        }
        cca = None
        if len(names) == 2 and self.regularization == 0:
            if max(widths.values()) >= n:
                warnings.warn(
                    f"A block has at least as many columns ({widths}) as paired "
                    f"samples ({n}): unregularised CCA finds spurious perfect "
                    "correlations. Set regularization='auto'.",
                    UserWarning,
                    stacklevel=2,
                )
            cca = CCA(
                n_components=self.n_components,
                scale=False,
                max_iter=self.max_iter,
                tol=self.tol,
            ).fit(blocks[0], blocks[1])
            weights = [cca.x_rotations_, cca.y_rotations_]
            eigenvalues = None
        else:
            weights, eigenvalues = gcca(
                blocks, self.n_components, [shrinkage[m] for m in names]
            )
        self.modalities_ = layout
        self._stats = stats
        self.weights_ = dict(zip(names, weights))
        self.shrinkage_ = shrinkage
        self.cca_ = cca
        self.eigenvalues_ = eigenvalues
        self.n_iter_ = 1 if cca is None else int(max(cca.n_iter_))
        self._set_output_names(self.n_components)
        if len(names) == 2:
            a, b = (block @ w for block, w in zip(blocks, weights))
            self.canonical_correlations_ = np.array(
                [np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(a.shape[1])]
            )
        else:
            self.canonical_correlations_ = None
        return self

    def _embed(self, X, present):
        out = {}
        for j, (name, cols) in enumerate(self.modalities_.items()):
            mean, std = self._stats[name]
            out[name] = ((X[present[:, j]][:, cols] - mean) / std) @ self.weights_[name]
        return out
