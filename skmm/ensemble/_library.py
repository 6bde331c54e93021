"""Diverse libraries of multimodal candidates for selection and stacking."""

import numbers
from itertools import product

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from skmm.ensemble._common import (
    ModalityExpert,
    check_ensemble_input,
    check_modality,
    check_target,
)
from skmm.utils._sklearn_compat import (
    HasMethods,
    StrOptions,
    _check_sample_weight,
    _fit_context,
)

__all__ = ["ModalityExpertClassifier", "make_library"]

MAX_INT = np.iinfo(np.int32).max


class ModalityExpertClassifier(ClassifierMixin, ModalityExpert):
    """A classifier that looks at one modality and admits when it cannot see it.

    The column selection of the skmm ensembles' per-modality experts, as a
    stand-alone classifier that any ensemble (or a ``Pipeline``) can hold: it
    fits a clone of ``estimator`` on the columns of ``modality`` (the
    ``"{modality}__"`` block of an encoded matrix, or the raw column of a
    table), on the samples where the modality is present. For a sample whose
    modality is missing it has no evidence and says so: ``predict_proba``
    returns the class prior of its training samples (see ``absent``), so that
    an average of members, e.g. :class:`EnsembleSelectionClassifier`, is not
    pulled towards any class by a member that cannot see the sample.

    Parameters
    ----------
    estimator : estimator
        Fitted on the modality's columns; must implement ``predict_proba``.
    modality : str
        The modality it looks at.
    modalities : dict, default=None
        Explicit layout ``{modality: columns}`` (see
        :func:`~skmm.utils.resolve_modalities`).
    absent : {"prior", "nan"}, default="prior"
        ``predict_proba`` for a sample whose modality is missing: the
        (weighted) class frequencies of the training samples, or a NaN row
        (for ensembles that treat NaN as an abstention, like
        :func:`prediction_diversity`).

    Attributes
    ----------
    estimator_ : estimator
        The fitted estimator.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    prior_ : ndarray of shape (n_classes,)
        Class frequencies of the training samples.
    n_present_ : int
        Training samples where the modality was present.
    modalities_ : dict
        Modality layout of ``X``.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in fit (when they are all strings).

    See Also
    --------
    make_library : Builds a candidate library with one expert per modality.
    ModalityStackingClassifier : Its ``experts`` add a presence indicator per
        modality for the final estimator.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import ModalityExpertClassifier
    >>> X, y = make_multimodal_classification(100, random_state=0)
    >>> expert = ModalityExpertClassifier(LogisticRegression(), "audio").fit(X, y)
    >>> X_gap = X[:2].copy()
    >>> X_gap.loc[:, X.columns.str.startswith("audio__")] = np.nan
    >>> expert.predict_proba(X_gap).tolist() == [expert.prior_.tolist()] * 2
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "modality": [str],
        "modalities": [dict, None],
        "absent": [StrOptions({"prior", "nan"})],
    }

    #: the input kind is decided from X (ModalityExpert's ``kind`` parameter is
    #: for the ensembles that wrap their experts)
    kind = None

    def __init__(self, estimator, modality, *, modalities=None, absent="prior"):
        self.estimator = estimator
        self.modality = modality
        self.modalities = modalities
        self.absent = absent

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the estimator on the modality's columns where it is present.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            An encoded matrix (modality blocks) or a raw multimodal table.
        y : array-like of shape (n_samples,)
            The class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the estimator (for the samples where the modality is
            present); also weights ``prior_``.

        Returns
        -------
        self : ModalityExpertClassifier
            The fitted expert.
        """
        y = check_target(self, y, multi_output=False)
        check_classification_targets(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, y)
        inp = check_ensemble_input(self, X, reset=True, modalities=self.modalities)
        check_consistent_length(inp.data, y)
        check_modality(self.modality, inp.layout, "expert")
        present = inp.presence_of(self.modality)
        classes, codes = np.unique(y, return_inverse=True)
        super().fit(X, y, sample_weight=sample_weight)
        weights = None if sample_weight is None else sample_weight[present]
        counts = np.bincount(codes[present], weights=weights, minlength=len(classes))
        self.prior_ = counts / counts.sum()
        self.classes_ = classes
        return self

    def predict_proba(self, X):
        """Class probabilities; ``prior_`` (or NaN) where the modality is missing.

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        out, present = self.predict_present(X, "predict_proba")
        fill = self.prior_ if self.absent == "prior" else np.nan
        proba = np.empty((present.shape[0], len(self.classes_)))
        proba[:] = fill
        if out is not None:
            proba[present] = out
        return proba

    def predict(self, X):
        """Most probable class (the prior's mode where the modality is missing).

        Parameters
        ----------
        X : DataFrame, dict, ndarray or sparse matrix of shape (n_samples, n_columns)
            The same kind of input as in fit.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The predicted class labels (the mode of ``prior_`` for the samples
            whose modality is missing).
        """
        proba = self.predict_proba(X)
        if self.absent == "nan":
            proba = np.where(np.isnan(proba), self.prior_, proba)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            tags.input_tags.sparse = get_tags(self.estimator).input_tags.sparse
        except Exception:  # an invalid estimator fails at fit with a clear message
            pass
        return tags


# -- libraries ------------------------------------------------------------------
_PRESETS = {
    "fast": {
        "fusions": ("early", "late"),
        "branches": ("mlp",),
        "modality_dropout": (0.0,),
        "n_seeds": 1,
        "experts": True,
        "classical": ("logreg", "hgb"),
    },
    "diverse": {
        "fusions": ("early", "late", "gated", "low_rank_tensor"),
        "branches": ("mlp",),
        "modality_dropout": (0.0, 0.3),
        "n_seeds": 1,
        "experts": True,
        "classical": ("logreg", "hgb", "random_forest", "knn"),
    },
    "networks": {
        "fusions": ("early", "late", "gated", "low_rank_tensor", "attention"),
        "branches": ("mlp", "identity"),
        "modality_dropout": (0.0,),
        "n_seeds": 1,
        "experts": False,
        "classical": (),
    },
    "classical": {
        "fusions": (),
        "branches": ("mlp",),
        "modality_dropout": (0.0,),
        "n_seeds": 1,
        "experts": True,
        "classical": ("logreg", "hgb", "random_forest", "knn"),
    },
}

_CLASSICAL = ("logreg", "hgb", "random_forest", "knn")


def _classical(name, seed):
    """A classical model on the whole encoded matrix (missing blocks explicit)."""
    # Missing modality blocks are NaN: imputed with the training means *and*
    # flagged by indicator columns, so the model knows what it does not see.
    impute = SimpleImputer(add_indicator=True, keep_empty_features=True)
    if name == "logreg":
        return make_pipeline(
            impute, StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)
        )
    if name == "hgb":  # handles NaN natively
        return HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=100, early_stopping=False, random_state=seed
        )
    if name == "random_forest":
        return make_pipeline(
            impute,
            RandomForestClassifier(
                n_estimators=200, min_samples_leaf=2, random_state=seed
            ),
        )
    if name == "knn":
        return make_pipeline(
            impute, StandardScaler(), KNeighborsClassifier(15, weights="distance")
        )
    raise ValueError(f"Unknown classical model {name!r}; expected one of {_CLASSICAL}.")


def _tuple(value, what):
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ValueError(
            f"{what} must be a str or a list of str; got {value!r}."
        ) from None


def make_library(
    preset="diverse",
    *,
    modalities=None,
    fusions=None,
    branches=None,
    modality_dropout=None,
    n_seeds=None,
    experts=None,
    classical=None,
    network_params=None,
    random_state=None,
):
    """Build a diverse library of multimodal classifiers, in one line.

    Ensembles gain when their members make different mistakes. The library
    crosses the axes along which multimodal models differ -- fusion type x
    per-modality branch x modality dropout x seed for
    :class:`~skmm.fusion.FusionClassifier` networks, plus one expert per
    modality (:class:`ModalityExpertClassifier`) and classical models on the
    whole encoded matrix -- and returns ``(name, estimator)`` pairs for
    :class:`EnsembleSelectionClassifier` (``estimators=``) or
    :class:`ModalityStackingClassifier` (``estimators=``). Every member takes
    the *encoded* matrix (``"{modality}__"`` blocks, missing modalities as NaN
    blocks): encode the raw table once, in front of the ensemble, e.g.
    ``make_pipeline(MultimodalEncoder([...]), EnsembleSelectionClassifier(
    make_library(modalities=["text", "image", "audio"])))`` -- the encoders
    then run once per cross-validation fold of the outer pipeline, not once per
    candidate.

    Names read well in ``get_params``: ``"late_mlp"``,
    ``"gated_mlp_mdrop30"``, ``"early_mlp_s1"`` (seed copies),
    ``"expert_audio"``, ``"logreg"``, so that ``GridSearchCV`` can tune e.g.
    ``late_mlp__hidden_size`` or drop ``expert_text``.

    Parameters
    ----------
    preset : {"diverse", "fast", "networks", "classical"}, default="diverse"
        Defaults of the other parameters (one seed per configuration):

        - ``"fast"``: early and late fusion networks (mlp branches), one
          expert per modality, logreg and hgb.
        - ``"diverse"``: early, late, gated and low-rank tensor fusion, each
          with modality dropout 0 and 0.3 (8 networks), one expert per
          modality, logreg, hgb, random_forest and knn.
        - ``"networks"``: early, late, gated, low-rank tensor and attention
          fusion, each with mlp and identity branches (10 networks).
        - ``"classical"``: one expert per modality, logreg, hgb,
          random_forest and knn.

    modalities : list of str or dict, default=None
        The modality names (one expert each), or an explicit layout
        ``{modality: columns}`` that is also given to every network and
        expert (for matrices without ``"{modality}__"`` column names). Without
        it no experts are built.
    fusions : list of str, default=None
        Fusion types of the networks (see :class:`~skmm.fusion.FusionClassifier`).
    branches : list of str, default=None
        Branch types, each applied to every modality (``"mlp"``,
        ``"identity"``; sequence and grid branches need shaped blocks).
    modality_dropout : list of float, default=None
        Training-time modality dropout values; a network trained with it copes
        better with missing modalities and errs differently.
    n_seeds : int, default=None
        Copies of each network configuration with different seeds.
    experts : bool or estimator, default=None
        Per-modality experts: ``True`` gives a scaled logistic regression per
        modality, an estimator (with ``predict_proba``) is used for each
        modality, ``False`` none. Needs ``modalities``.
    classical : list of {"logreg", "hgb", "random_forest", "knn"}, default=None
        Classical models on the whole encoded matrix. ``"hgb"`` handles
        missing blocks natively; the others impute them with training means
        and add missing-indicator columns.
    network_params : dict, default=None
        Parameters of every network, e.g. ``{"hidden_size": 32,
        "max_epochs": 30}`` (defaults: ``hidden_size=32``, ``max_epochs=30``,
        ``lr=3e-3``, ``dropout=0.1``).
    random_state : int, RandomState instance or None, default=None
        Draws a distinct seed for every member that has randomness.

    Returns
    -------
    library : list of (str, estimator)
        Unfitted candidates.

    See Also
    --------
    EnsembleSelectionClassifier : Greedy out-of-fold weighting of a library.
    ModalityStackingClassifier : Learns how to combine a library.
    ensemble_diversity : How different the chosen members are.

    Examples
    --------
    >>> from skmm.ensemble import EnsembleSelectionClassifier, make_library
    >>> library = make_library("fast", modalities=["text", "image", "audio"],
    ...                        random_state=0)
    >>> [name for name, _ in library]  # doctest: +NORMALIZE_WHITESPACE
    ['early_mlp', 'late_mlp', 'expert_text', 'expert_image', 'expert_audio',
     'logreg', 'hgb']
    >>> selection = EnsembleSelectionClassifier(library, cv=3, random_state=0)
    >>> selection.set_params(late_mlp__hidden_size=16).estimators[1][1].hidden_size
    16
    """
    if preset not in _PRESETS:
        raise ValueError(
            f"Unknown preset {preset!r}; expected one of {sorted(_PRESETS)}."
        )
    config = dict(_PRESETS[preset])
    given = {
        "fusions": fusions,
        "branches": branches,
        "modality_dropout": modality_dropout,
        "n_seeds": n_seeds,
        "experts": experts,
        "classical": classical,
    }
    config.update({k: v for k, v in given.items() if v is not None})
    fusions = _tuple(config["fusions"], "fusions")
    branches = _tuple(config["branches"], "branches")
    drops = config["modality_dropout"]
    drops = (drops,) if isinstance(drops, numbers.Real) else tuple(drops)
    for d in drops:
        if not isinstance(d, numbers.Real) or not 0 <= d < 1:
            raise ValueError(f"modality_dropout values must be in [0, 1); got {d!r}.")
    n_seeds = config["n_seeds"]
    if not isinstance(n_seeds, numbers.Integral) or n_seeds < 1:
        raise ValueError(f"n_seeds must be a positive int; got {n_seeds!r}.")
    classical = _tuple(config["classical"], "classical")
    unknown = [c for c in classical if c not in _CLASSICAL]
    if unknown:
        raise ValueError(
            f"Unknown classical model(s) {unknown}; expected some of "
            f"{list(_CLASSICAL)}."
        )
    layout = None
    if modalities is None:
        names = []
    elif isinstance(modalities, dict):
        layout, names = modalities, list(modalities)
    else:
        names = list(_tuple(modalities, "modalities"))
    for name in names:
        if not isinstance(name, str) or not name or "__" in name:
            raise ValueError(
                f"Modality names are non-empty str without '__'; got {name!r}."
            )
    expert = config["experts"]
    if expert is True:
        expert = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    elif expert is False:
        expert = None
    elif not hasattr(expert, "predict_proba"):
        raise ValueError(
            "experts must be True, False or an estimator with predict_proba; got "
            f"{expert!r}."
        )
    if expert is not None and not names and given["experts"] is not None:
        raise ValueError("experts need the modality names: pass modalities=[...].")
    params = {"hidden_size": 32, "max_epochs": 30, "lr": 3e-3, "dropout": 0.1}
    params.update(network_params or {})
    if layout is not None:
        params["modalities"] = layout

    rng = check_random_state(random_state)
    library = []
    if fusions:
        from skmm.fusion import FusionClassifier

    for fusion, branch, drop, seed in product(fusions, branches, drops, range(n_seeds)):
        name = f"{fusion}_{branch}"
        if drop:
            name += f"_mdrop{round(100 * drop)}"
        if n_seeds > 1:
            name += f"_s{seed}"
        net = FusionClassifier(
            fusion,
            branches=branch,
            modality_dropout=drop,
            random_state=int(rng.randint(MAX_INT)),
            **params,
        )
        library.append((name, net))
    if expert is not None:
        for modality in names:
            est = clone(expert)
            _seed_all(est, rng)
            library.append(
                (
                    f"expert_{modality}",
                    ModalityExpertClassifier(est, modality, modalities=layout),
                )
            )
    for model in classical:
        library.append((model, _classical(model, int(rng.randint(MAX_INT)))))
    if not library:
        raise ValueError("The library is empty: every kind of member is switched off.")
    return library


def _seed_all(estimator, rng):
    """Seed every ``random_state`` parameter that is None."""
    to_set = {
        key: int(rng.randint(MAX_INT))
        for key, value in estimator.get_params(deep=True).items()
        if key == "random_state" or key.endswith("__random_state")
        if value is None
    }
    if to_set:
        estimator.set_params(**to_set)
