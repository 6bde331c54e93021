"""Corruptions as stateless scikit-learn transformers."""

from numbers import Integral, Real

from sklearn.base import BaseEstimator, TransformerMixin

from skmm.robustness._corruptions import (
    CORRUPTIONS,
    corrupt_column,
    corrupt_modalities,
)
from skmm.utils._contract import check_raw_column
from skmm.utils._sklearn_compat import Interval, StrOptions, _fit_context

__all__ = ["Corruption", "ModalityCorruptor"]

_COMMON_CONSTRAINTS = {
    "corruption": [StrOptions(set(CORRUPTIONS))],
    "severity": [Interval(Real, 0, 1, closed="both")],
    "sr": [Interval(Real, 0, None, closed="neither"), None],
    "background": ["array-like", None],
    "random_state": ["random_state"],
}


class _StatelessMixin:
    """fit validates and returns self; outputs are raw cells (no set_output)."""

    def set_output(self, *, transform=None):
        """No-op: the output holds raw cells, not features.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            Ignored.

        Returns
        -------
        self : object
            The transformer itself, unchanged.
        """
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.non_deterministic = self.random_state is None
        tags.input_tags.string = True
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        return tags


class Corruption(
    _StatelessMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Corrupt one raw column: a seeded, stateless transformer.

    The transformer form of :func:`~skmm.robustness.corrupt_column`. Put it in
    front of an encoder to corrupt a modality inside a pipeline, e.g. to
    evaluate a fitted pipeline on noisy audio, or to augment training data.

    Parameters
    ----------
    corruption : str, default="missing"
        A name from :data:`~skmm.robustness.CORRUPTIONS` matching the column's
        modality (image, audio, text) or ``"missing"`` / ``"misalign"``.
    severity : float in [0, 1], default=1.0
        0 is the identity. See the user guide for each corruption's scale.
    sr : float, default=None
        Sample rate of audio cells (Hz); required by the audio corruptions.
    background : sequence, default=None
        Audio clips mixed in by ``"mix"`` (default: other samples).
    random_state : int, RandomState instance or None, default=None
        Seed; with an int, ``transform`` gives the same output on every call.

    See Also
    --------
    ModalityCorruptor : The same on one modality of a raw table.
    corrupt_column : The function form.

    Examples
    --------
    >>> from skmm.robustness import Corruption
    >>> Corruption("word_dropout", 0.5, random_state=1).transform(
    ...     ["the digit is big", None]
    ... )
    ['the digit big', None]
    """

    _parameter_constraints = dict(_COMMON_CONSTRAINTS)

    def __init__(
        self,
        corruption="missing",
        severity=1.0,
        *,
        sr=None,
        background=None,
        random_state=None,
    ):
        self.corruption = corruption
        self.severity = severity
        self.sr = sr
        self.background = background
        self.random_state = random_state

    @property
    def _modality(self):
        modality = CORRUPTIONS.get(self.corruption)
        return None if modality == "any" else modality

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and the column; nothing is learned.

        Parameters
        ----------
        X : sequence of shape (n_samples,)
            A raw column.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The transformer itself (nothing is fitted).
        """
        check_raw_column(X, estimator=self)
        return self

    def transform(self, X):
        """Corrupt the column.

        Parameters
        ----------
        X : sequence of shape (n_samples,)
            A raw column; missing cells stay missing.

        Returns
        -------
        cells : list of length n_samples
            The corrupted cells, in the input order (a new list; missing cells
            stay missing).
        """
        self._validate_params()
        check_raw_column(X, estimator=self)
        return corrupt_column(
            X,
            self.corruption,
            self.severity,
            sr=self.sr,
            background=self.background,
            random_state=self.random_state,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.one_d_array = True
        # raw strings are texts only for text corruptions (image and audio
        # cells may be paths, but are not documents to a text-cell check)
        tags.input_tags.string = self._modality == "text"
        return tags


class ModalityCorruptor(
    _StatelessMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None
):
    """Corrupt one modality of a raw table: a seeded, stateless transformer.

    The transformer form of :func:`~skmm.robustness.corrupt_modalities` for one
    modality. It takes and returns a raw table (other columns untouched), so it
    goes in front of a :class:`~skmm.compose.MultimodalEncoder`; it also
    accepts an encoded matrix, where only ``"missing"`` and ``"misalign"``
    apply (blocks found by :func:`skmm.utils.resolve_modalities`).

    Parameters
    ----------
    column : str or int
        The modality (a name from ``modalities``, or a column of the table).
    corruption : str, default="missing"
        A name from :data:`~skmm.robustness.CORRUPTIONS`.
    severity : float in [0, 1], default=1.0
        0 is the identity.
    sr : float, default=None
        Sample rate of audio cells (Hz); required by the audio corruptions.
    modalities : dict, default=None
        Explicit layout ``{modality: columns}``.
    background : sequence, default=None
        Audio clips mixed in by ``"mix"``.
    random_state : int, RandomState instance or None, default=None
        Seed; with an int, ``transform`` gives the same output on every call.

    See Also
    --------
    Corruption : The same on a single raw column.
    corrupt_modalities, drop_modalities, misalign_modalities : Function forms.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmm.robustness import ModalityCorruptor
    >>> X = pd.DataFrame({"text": ["big", "small", "big"], "id": [1, 2, 3]})
    >>> ModalityCorruptor("text", "missing", 1 / 3, random_state=0).transform(X)
        text id
    0    big  1
    1  small  2
    2   None  3
    """

    _parameter_constraints = {
        "column": [str, Integral],
        "modalities": [dict, None],
        **_COMMON_CONSTRAINTS,
    }

    def __init__(
        self,
        column,
        corruption="missing",
        severity=1.0,
        *,
        sr=None,
        modalities=None,
        background=None,
        random_state=None,
    ):
        self.column = column
        self.corruption = corruption
        self.severity = severity
        self.sr = sr
        self.modalities = modalities
        self.background = background
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate the parameters and the table; nothing is learned.

        Parameters
        ----------
        X : DataFrame, dict of columns, 2-D array or numeric matrix
            A raw table, or an encoded matrix (then only ``"missing"`` and
            ``"misalign"`` apply).
        y : None
            Ignored.

        Returns
        -------
        self : object
            The transformer itself (nothing is fitted).
        """
        self._corrupt(X, severity=0.0)
        return self

    def transform(self, X):
        """Corrupt the modality.

        Parameters
        ----------
        X : DataFrame, dict of columns, 2-D array or numeric matrix
            A raw table, or an encoded matrix (then only ``"missing"`` and
            ``"misalign"`` apply).

        Returns
        -------
        X_corrupted : DataFrame or ndarray
            A copy with ``column`` corrupted (DataFrames stay DataFrames with
            the same index; a dict becomes a DataFrame). Other columns are
            untouched.
        """
        self._validate_params()
        return self._corrupt(X, severity=self.severity)

    def _corrupt(self, X, severity):
        if isinstance(X, (str, bytes)):
            raise ValueError(
                f"{type(self).__name__}: a raw table (DataFrame, dict of columns "
                "or 2-D array) expected, got a string."
            )
        return corrupt_modalities(
            X,
            {self.column: (self.corruption, severity)},
            sr=self.sr,
            modalities=self.modalities,
            background=self.background,
            random_state=self.random_state,
        )
