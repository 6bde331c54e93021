"""Conformance checks for raw-input estimators, which sklearn's checks skip.

scikit-learn's :func:`~sklearn.utils.estimator_checks.check_estimator` runs
almost nothing on an estimator tagged ``input_tags.two_d_array=False`` (raw text,
image paths, waveforms): every data-dependent check is skipped. skmm's encoders
and loaders are such estimators, so this module checks the same contract on raw
input: clone/get_params/set_params, nothing set in ``__init__``, ``fit``
returns ``self`` and is idempotent, ``NotFittedError`` before fit, pickle round
trip, bare-``str`` and empty input rejected, missing cells give missing rows,
feature names match the output, and the estimator works inside ``Pipeline`` and
``GridSearchCV``.

Use :func:`raw_estimator_checks` to get ``(estimator, check)`` pairs (e.g. for
``pytest.mark.parametrize``) or :func:`check_raw_estimator` to run them all.
"""

import pickle
import re
import warnings
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.estimator_checks import (
    check_estimator_cloneable,
    check_estimator_repr,
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_set_params,
)

__all__ = [
    "check_raw_estimator",
    "make_raw_column",
    "make_raw_table",
    "raw_estimator_checks",
]

_WORDS = {
    0: ["calm", "quiet", "soft", "slow", "gentle", "low"],
    1: ["loud", "fast", "bright", "sharp", "quick", "high"],
}


def make_raw_column(modality, n_samples=12, *, sr=16000, random_state=0):
    """Small raw column of one modality, with a binary target that it encodes.

    Parameters
    ----------
    modality : {"text", "image", "audio"}
    n_samples : int, default=12
    sr : int, default=16000
        Sample rate of the audio waveforms.
    random_state : int, default=0

    Returns
    -------
    cells : list
        Texts (str), images (uint8 HxWx3 arrays) or waveforms (1-D float32).
    y : ndarray of shape (n_samples,)
        Alternating 0/1 labels; class 1 texts use other words, class 1 images are
        brighter, class 1 tones are higher.

    Examples
    --------
    >>> from skmm.utils.estimator_checks import make_raw_column
    >>> cells, y = make_raw_column("text", 4)
    >>> len(cells), y.tolist()
    (4, [0, 1, 0, 1])
    """
    rng = check_random_state(random_state)
    y = np.arange(n_samples) % 2
    cells = []
    for label in y:
        if modality == "text":
            words = rng.choice(_WORDS[label], size=4)
            cells.append("the sound was " + " and ".join(words))
        elif modality == "image":
            base = 60 if label == 0 else 180
            img = rng.normal(base, 25, size=(16, 16, 3))
            cells.append(np.clip(img, 0, 255).astype(np.uint8))
        elif modality == "audio":
            t = np.arange(int(0.5 * sr)) / sr
            freq = (300.0 if label == 0 else 2000.0) * rng.uniform(0.9, 1.1)
            wave = 0.5 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(
                t.size
            )
            cells.append(wave.astype(np.float32))
        else:
            raise ValueError(
                f"modality must be text, image or audio; got {modality!r}."
            )
    return cells, y


def make_raw_table(
    n_samples=12, *, modalities=("text", "image", "audio"), random_state=0
):
    """Small raw multimodal table (one column per modality) and its target.

    Examples
    --------
    >>> from skmm.utils.estimator_checks import make_raw_table
    >>> X, y = make_raw_table(4)
    >>> list(X.columns)
    ['text', 'image', 'audio']
    """
    columns, y = {}, None
    for k, modality in enumerate(modalities):
        cells, y = make_raw_column(modality, n_samples, random_state=random_state + k)
        columns[modality] = pd.Series(cells, dtype=object)
    return pd.DataFrame(columns), y


def _with_missing(X, rows):
    """Copy of a raw column or table with the given samples missing."""
    if isinstance(X, pd.DataFrame):
        X = X.copy()
        X = X.astype(object)
        X.iloc[list(rows), :] = None
        return X
    if isinstance(X, dict):
        return {
            k: [None if i in rows else c for i, c in enumerate(v)] for k, v in X.items()
        }
    return [None if i in rows else c for i, c in enumerate(X)]


def _n_samples(X):
    if isinstance(X, dict):
        return len(next(iter(X.values())))
    return len(X)


def _output(estimator, X):
    if hasattr(estimator, "transform"):
        return estimator.transform(X)
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(X)
    return estimator.predict(X)


def _is_raw_table(out):
    """A DataFrame of raw cells (a table -> table transformer's output)."""
    if not isinstance(out, pd.DataFrame):
        return False
    return any(t == np.dtype(object) for t in out.dtypes)


def _assert_same(a, b, msg):
    if _is_raw_table(a):
        assert _is_raw_table(b) and list(a.columns) == list(b.columns), msg
        for col in a.columns:
            _assert_same(a[col].tolist(), b[col].tolist(), msg)
        return
    if isinstance(a, pd.DataFrame | pd.Series):
        a, b = a.to_numpy(), b.to_numpy()
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), msg
        for x, z in zip(a, b):
            if x is None or z is None:
                assert x is None and z is None, msg
            elif isinstance(x, str):
                assert x == z, msg
            else:
                np.testing.assert_allclose(np.asarray(x), np.asarray(z), err_msg=msg)
        return
    np.testing.assert_allclose(
        np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=msg
    )


def _fit(estimator, X, y):
    return estimator.fit(X, y)


def check_fit_returns_self(name, estimator, X, y):
    est = clone(estimator)
    assert _fit(est, X, y) is est, f"{name}.fit must return self."


def check_not_fitted(name, estimator, X, y):
    est = clone(estimator)
    tags = est.__sklearn_tags__()
    if not tags.requires_fit:
        return
    for method in ("transform", "predict", "predict_proba"):
        if hasattr(est, method):
            try:
                getattr(est, method)(X)
            except NotFittedError:
                continue
            raise AssertionError(
                f"{name}.{method} before fit must raise NotFittedError."
            )


def check_params_unchanged_by_fit(name, estimator, X, y):
    est = clone(estimator)
    before = dict(est.get_params(deep=False))
    _fit(est, X, y)
    after = est.get_params(deep=False)
    for key, value in before.items():
        assert after[key] is value or repr(after[key]) == repr(value), (
            f"{name}.fit changed parameter {key!r}."
        )


def check_fitted_attributes_end_with_underscore(name, estimator, X, y):
    est = clone(estimator)
    params = set(est.get_params(deep=False))
    before = set(vars(est))
    _fit(est, X, y)
    new = [a for a in set(vars(est)) - before if not a.startswith("_")]
    bad = [a for a in new if not a.endswith("_") and a not in params]
    assert not bad, f"{name}: public attributes set in fit must end with '_': {bad}."


def check_idempotent_fit(name, estimator, X, y):
    est = clone(estimator)
    first = _output(_fit(est, X, y), X)
    second = _output(_fit(est, X, y), X)
    _assert_same(first, second, f"{name}: fitting twice must give the same output.")


def check_pickle_round_trip(name, estimator, X, y):
    est = _fit(clone(estimator), X, y)
    expected = _output(est, X)
    restored = pickle.loads(pickle.dumps(est))
    _assert_same(
        expected, _output(restored, X), f"{name}: pickle round trip changed output."
    )


def check_bare_string_rejected(name, estimator, X, y):
    est = clone(estimator)
    try:
        est.fit("a single string")
    except (ValueError, TypeError):
        return
    raise AssertionError(f"{name}.fit must reject a bare string with a clear error.")


def check_empty_input_rejected(name, estimator, X, y):
    est = clone(estimator)
    empty = (
        X.iloc[:0]
        if isinstance(X, pd.DataFrame)
        else ({k: [] for k in X} if isinstance(X, dict) else [])
    )
    try:
        est.fit(empty)
    except ValueError:
        return
    raise AssertionError(f"{name}.fit must reject empty input with a ValueError.")


def check_missing_cells(name, estimator, X, y):
    """Missing cells give missing rows (NaN / None) and leave other rows alone."""
    est = _fit(clone(estimator), X, y)
    if not hasattr(est, "transform"):
        return
    full = est.transform(X)
    rows = {1, _n_samples(X) - 1}
    gappy = est.transform(_with_missing(X, rows))
    if _is_raw_table(full):  # table -> table: missing rows stay missing
        for i in range(len(full)):
            if i in rows:
                assert gappy.iloc[i].isna().all(), f"{name}: missing cells must stay."
            else:
                _assert_same(full.iloc[[i]], gappy.iloc[[i]], name)
        return
    if isinstance(full, list):
        for i, (a, b) in enumerate(zip(full, gappy)):
            if i in rows:
                assert b is None, (
                    f"{name}: a missing cell must give None, got {type(b)}."
                )
            else:
                _assert_same([a], [b], f"{name}: other samples must not change.")
        return
    full, gappy = np.asarray(full, dtype=float), np.asarray(gappy, dtype=float)
    for i in range(full.shape[0]):
        if i in rows:
            assert np.isnan(gappy[i]).all(), f"{name}: a missing sample must be NaN."
        else:
            np.testing.assert_allclose(gappy[i], full[i], rtol=1e-5, atol=1e-6)


def check_feature_names_out(name, estimator, X, y):
    est = _fit(clone(estimator), X, y)
    out = est.transform(X) if hasattr(est, "transform") else None
    if (
        out is None
        or isinstance(out, list)
        or not hasattr(est, "get_feature_names_out")
    ):
        return
    names = est.get_feature_names_out()
    assert len(names) == np.asarray(out).shape[1], (
        f"{name}: get_feature_names_out has {len(names)} names for "
        f"{np.asarray(out).shape[1]} output columns."
    )
    assert len(set(names)) == len(names), f"{name}: feature names must be unique."
    assert np.asarray(out).dtype == np.float32, f"{name}: output must be float32."
    est.set_output(transform="pandas")
    frame = est.transform(X)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)


def check_in_pipeline_and_grid_search(name, estimator, X, y):
    est = clone(estimator)
    if hasattr(est, "transform"):
        if isinstance(clone(estimator).fit(X, y).transform(X), list):
            return  # loaders feed encoders, not classifiers
        pipe = Pipeline([("enc", est), ("clf", DummyClassifier())])
        grid = {"clf__strategy": ["prior", "most_frequent"]}
    elif is_classifier(est) or is_regressor(est):
        pipe, grid = Pipeline([("est", est)]), {}
    else:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert hasattr(search, "best_estimator_"), f"{name}: GridSearchCV did not fit."


def raw_estimator_checks(estimator, X, y=None):
    """Yield ``(estimator, check)`` pairs of skmm's raw-input conformance checks.

    Parameters
    ----------
    estimator : estimator instance
        Unfitted, with small seeded settings.
    X : sequence or table
        Raw input it accepts (a raw column or a raw multimodal table), at least
        4 samples.
    y : array-like, default=None
        Target, passed to ``fit``.

    Yields
    ------
    estimator : estimator instance
    check : callable
        ``check(estimator)`` raises ``AssertionError`` on a failure.

    Examples
    --------
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from skmm.compose import MultimodalEncoder
    >>> from skmm.utils.estimator_checks import make_raw_table, raw_estimator_checks
    >>> X, y = make_raw_table(6, modalities=("text",))
    >>> est = MultimodalEncoder([("text", TfidfVectorizer(), "text")])
    >>> for est, check in raw_estimator_checks(est, X, y):
    ...     check(est)
    """
    name = type(estimator).__name__
    data_free = [
        check_estimator_cloneable,
        check_estimator_repr,
        check_no_attributes_set_in_init,
        check_get_params_invariance,
        check_set_params,
    ]
    for check in data_free:
        yield estimator, partial(_named(check), name)
    for check in (
        check_fit_returns_self,
        check_not_fitted,
        check_params_unchanged_by_fit,
        check_fitted_attributes_end_with_underscore,
        check_idempotent_fit,
        check_pickle_round_trip,
        check_bare_string_rejected,
        check_empty_input_rejected,
        check_missing_cells,
        check_feature_names_out,
        check_in_pipeline_and_grid_search,
    ):
        yield estimator, partial(_with_data(check), name, X=X, y=y)


def _named(check):
    def run(name, estimator):
        return check(name, estimator)

    run.__name__ = check.__name__
    return run


def _with_data(check):
    def run(name, estimator, X, y):
        return check(name, estimator, X, y)

    run.__name__ = check.__name__
    return run


def check_raw_estimator(estimator, X, y=None):
    """Run every raw-input conformance check on ``estimator``.

    Raises ``AssertionError`` naming the first failing check.

    Examples
    --------
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from skmm.compose import MultimodalEncoder
    >>> from skmm.utils.estimator_checks import check_raw_estimator, make_raw_table
    >>> X, y = make_raw_table(6, modalities=("text",))
    >>> est = MultimodalEncoder([("text", TfidfVectorizer(), "text")])
    >>> check_raw_estimator(est, X, y)
    """
    for est, check in raw_estimator_checks(estimator, X, y):
        try:
            check(est)
        except AssertionError as exc:
            raise AssertionError(f"{_check_name(check)} failed: {exc}") from exc


def _check_name(check):
    func = check.func if isinstance(check, partial) else check
    return re.sub(r"^run$", "check", getattr(func, "__name__", str(func)))
