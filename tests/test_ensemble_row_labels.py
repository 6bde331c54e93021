"""Errors inside ensembles name the row of the user's table (issue 12).

A member fitted on a bootstrap sample, a cross-validation fold, a weighted
resample or the present rows of a modality counts its samples within that
subset. The ensembles map that number back: the error names the user's row
(its index label where the table has one, its position otherwise), whatever
subset the member was fitted on. Row labels never change predictions.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skmm.compose import MultimodalEncoder
from skmm.datasets import make_multimodal_classification
from skmm.ensemble import (
    EnsembleSelectionClassifier,
    ModalityBaggingClassifier,
    ModalityStackingClassifier,
    MultimodalAdaBoostClassifier,
    SnapshotEnsembleClassifier,
)
from skmm.ensemble._common import RowNamingMember
from skmm.exceptions import InvalidSampleError
from skmm.utils._contract import user_rows

N, BAD = 40, 17


# -- data ---------------------------------------------------------------------
def _raw_table(index=None, bad=True):
    """Text + a numeric column; the text of row ``BAD`` is whitespace only."""
    rng = np.random.RandomState(0)
    y = np.tile([0, 1], N // 2)
    text = [
        ("good" if t else "bad") + f" w{rng.randint(4)} v{rng.randint(3)}" for t in y
    ]
    if bad:
        text[BAD] = "   "
    table = pd.DataFrame({"text": text, "num": rng.randn(N) + y})
    if index is not None:
        table.index = index
    return table, y


def _pipe():
    return make_pipeline(
        MultimodalEncoder(
            [("text", TfidfVectorizer(), "text"), ("num", "passthrough", "num")]
        ),
        LogisticRegression(),
    )


def _expert():
    # A per-modality expert on the text column, through its own encoder.
    return make_pipeline(
        MultimodalEncoder([("text", TfidfVectorizer(), "text")]), LogisticRegression()
    )


RAW_ENSEMBLES = {
    # bootstrap samples: the base pipeline takes no sample_weight -> drawn rows
    "bagging": lambda: ModalityBaggingClassifier(
        _pipe(), n_estimators=3, random_state=0
    ),
    "bagging_half": lambda: ModalityBaggingClassifier(
        _pipe(), n_estimators=4, max_samples=0.5, random_state=1
    ),
    "bagging_modalities": lambda: ModalityBaggingClassifier(
        _pipe(), n_estimators=4, max_modalities=1, random_state=0
    ),
    "stacking": lambda: ModalityStackingClassifier(estimators=[("p", _pipe())], cv=3),
    "stacking_experts": lambda: ModalityStackingClassifier(
        experts={"text": _expert()}, cv=3
    ),
    "selection": lambda: EnsembleSelectionClassifier(
        [("p", _pipe())], cv=3, random_state=0
    ),
    "adaboost": lambda: MultimodalAdaBoostClassifier(
        _pipe(), n_estimators=2, random_state=0
    ),
    "adaboost_resample": lambda: MultimodalAdaBoostClassifier(
        _pipe(), n_estimators=2, weighting="resample", random_state=0
    ),
    "adaboost_experts": lambda: MultimodalAdaBoostClassifier(
        experts={"text": _expert()}, n_estimators=2, random_state=0
    ),
}

INDEXES = {
    "ints": (np.arange(1000, 1000 + N), 1000 + BAD),
    "strings": ([f"id-{i:03d}" for i in range(N)], f"id-{BAD:03d}"),
    "shuffled": (np.random.RandomState(5).permutation(N) * 3, None),
}


def _label(index_name):
    index, label = INDEXES[index_name]
    return index, (index[BAD] if label is None else label)


@pytest.mark.parametrize("index_name", sorted(INDEXES))
@pytest.mark.parametrize("name", sorted(RAW_ENSEMBLES))
def test_bad_cell_names_the_users_row_label(name, index_name):
    index, label = _label(index_name)
    X, y = _raw_table(index)
    with pytest.raises(InvalidSampleError) as info:
        RAW_ENSEMBLES[name]().fit(X, y)
    err = info.value
    assert err.column == "text"
    assert err.row == label
    assert type(err.row) is type(label) or isinstance(label, np.integer)
    assert f"row {label!r}" in str(err) or f"row {int(label)}" in str(err)
    assert "whitespace" in str(err)


@pytest.mark.parametrize("as_dict", [False, True])
@pytest.mark.parametrize("name", sorted(RAW_ENSEMBLES))
def test_without_index_the_users_row_number_is_named(name, as_dict):
    """A default RangeIndex (or a dict of lists): the row is the user's position,
    never the position within a bootstrap sample or a fold."""
    X, y = _raw_table()
    if as_dict:
        X = {column: X[column].tolist() for column in X}
    with pytest.raises(InvalidSampleError) as info:
        RAW_ENSEMBLES[name]().fit(X, y)
    err = info.value
    # Inside a CV fold the sample counts within the fold; the row is named.
    user_row = err.index if err.row is None else err.row
    assert user_row == BAD
    assert err.index == BAD or f"row {BAD}" in str(err)


def test_bootstrap_sample_number_is_mapped_to_the_users_position():
    """The member sees the bad row at another position of its bootstrap sample."""
    X, y = _raw_table(np.arange(1000, 1000 + N))
    ensemble = ModalityBaggingClassifier(_pipe(), n_estimators=3, random_state=0)
    with pytest.raises(InvalidSampleError) as info:
        ensemble.fit(X, y)
    assert info.value.index == BAD  # not its place in the bootstrap sample
    assert info.value.row == 1000 + BAD
    assert str(info.value).startswith(f"column 'text', sample {BAD}, row {1000 + BAD}")


# -- numeric members (fusion networks) --------------------------------------
def _numeric(index=None):
    X, y = make_multimodal_classification(
        N, n_classes=2, modalities={"a": 3, "b": 3}, random_state=0
    )
    X.iloc[BAD, 0] = np.nan  # a partly-NaN block: the fusion network raises
    if index is not None:
        X.index = index
    return X, y


def _net():
    fusion = pytest.importorskip("skmm.fusion")
    return fusion.FusionClassifier(hidden_size=4, max_epochs=1, random_state=0)


NUMERIC_ENSEMBLES = {
    "bagging": lambda: ModalityBaggingClassifier(
        _net(), n_estimators=2, random_state=0
    ),
    "stacking": lambda: ModalityStackingClassifier(estimators=[("n", _net())], cv=2),
    "selection": lambda: EnsembleSelectionClassifier(
        [("n", _net())], cv=2, random_state=0
    ),
    "adaboost_resample": lambda: MultimodalAdaBoostClassifier(
        _net(), n_estimators=1, weighting="resample", random_state=0
    ),
    "snapshot": lambda: SnapshotEnsembleClassifier(
        _net(), n_snapshots=2, cycle_epochs=1, random_state=0
    ),
}


@pytest.mark.parametrize("name", sorted(NUMERIC_ENSEMBLES))
def test_fusion_member_error_names_the_users_row_label(name):
    X, y = _numeric(np.arange(1000, 1000 + N))
    with pytest.raises(InvalidSampleError, match="NaN") as info:
        NUMERIC_ENSEMBLES[name]().fit(X, y)
    assert info.value.row == 1000 + BAD


def test_selection_on_an_array_names_the_users_row_number():
    """An array has no index: the folds still carry the row numbers."""
    X, y = _numeric()
    with pytest.raises(InvalidSampleError, match="NaN") as info:
        NUMERIC_ENSEMBLES["selection"]().fit(X.to_numpy(), y)
    err = info.value
    assert err.index != BAD  # counted within the fold ...
    assert err.row == BAD  # ... the user's row is named
    assert f"sample {err.index}, row {BAD}:" in str(err)


# -- row labels never change results ----------------------------------------
@pytest.mark.parametrize(
    "name", ["bagging", "bagging_half", "stacking_experts", "selection", "adaboost"]
)
def test_row_labels_do_not_change_predictions(name):
    X, y = _raw_table(bad=False)
    labelled = X.set_axis([f"id-{i}" for i in range(N)])
    plain = RAW_ENSEMBLES[name]().fit(X, y)
    named = RAW_ENSEMBLES[name]().fit(labelled, y)
    np.testing.assert_array_equal(plain.predict_proba(X), named.predict_proba(X))
    np.testing.assert_array_equal(named.predict_proba(X), named.predict_proba(labelled))


@pytest.mark.parametrize("name", ["bagging", "selection"])
def test_numeric_row_labels_do_not_change_predictions(name):
    X, y = _numeric()
    X = X.fillna(0.0)
    plain = NUMERIC_ENSEMBLES[name]().fit(X, y)
    labelled = NUMERIC_ENSEMBLES[name]().fit(X.set_axis(np.arange(N) + 500), y)
    np.testing.assert_array_equal(labelled.predict_proba(X), plain.predict_proba(X))


def test_selection_on_an_array_gives_the_members_arrays(monkeypatch):
    """The folds of an array carry row numbers; candidates still get arrays."""
    import skmm.ensemble._selection as selection

    X, y = _numeric()
    X = X.fillna(0.0).to_numpy()
    labelled = NUMERIC_ENSEMBLES["selection"]().fit(X, y)
    monkeypatch.setattr(selection, "labelled_rows", lambda X: (X, False))
    plain = NUMERIC_ENSEMBLES["selection"]().fit(X, y)
    np.testing.assert_array_equal(labelled.candidate_scores_, plain.candidate_scores_)
    np.testing.assert_array_equal(labelled.predict_proba(X), plain.predict_proba(X))


def test_stacking_members_are_unwrapped():
    X, y = _raw_table(bad=False)
    stack = ModalityStackingClassifier(estimators=[("p", _pipe())], cv=3).fit(X, y)
    assert not any(isinstance(e, RowNamingMember) for e in stack.estimators_)
    assert not isinstance(stack.named_estimators_["p"], RowNamingMember)
    selection = EnsembleSelectionClassifier([("p", _pipe())], cv=3).fit(X, y)
    assert not any(isinstance(e, RowNamingMember) for e in selection.estimators_)


# -- the mechanism ------------------------------------------------------------
def test_user_rows_maps_positions_and_keeps_a_named_row():
    index = pd.Index([f"r{i}" for i in range(10)])
    with pytest.raises(InvalidSampleError) as info:
        with user_rows(np.array([9, 3, 3, 5]), index):
            raise InvalidSampleError("bad", index=2)
    assert (info.value.index, info.value.row) == (3, "r3")
    # nested: each level maps to its own input's positions
    with pytest.raises(InvalidSampleError) as info:
        with user_rows(np.array([4, 8]), index):
            with user_rows(np.array([1, 0]), None):
                raise InvalidSampleError("bad", index=0, column="text")
    assert (info.value.index, info.value.row, info.value.column) == (8, "r8", "text")
    # a row the member named (from the index it was given) is kept
    with pytest.raises(InvalidSampleError) as info:
        with user_rows(None, index):
            raise InvalidSampleError("bad", index=1, row="mine")
    assert info.value.row == "mine"
    # errors without a sample number, and other errors, pass unchanged
    for exc in (InvalidSampleError("bad", source="a.wav"), ValueError("x")):
        with pytest.raises(type(exc)) as info:
            with user_rows([1], index):
                raise exc
        assert info.value is exc


def test_row_naming_member_is_a_transparent_estimator():
    X, y = _raw_table(np.arange(N) + 100)
    member = RowNamingMember(_pipe())
    assert clone(member).get_params()["estimator__logisticregression__C"] == 1.0
    with pytest.raises(InvalidSampleError) as info:
        member.fit(X.iloc[10:30], y[10:30])
    assert (info.value.index, info.value.row) == (BAD - 10, 100 + BAD)
    good, _ = _raw_table(bad=False)
    member.fit(good, y)
    assert hasattr(member, "predict_proba") and not hasattr(member, "transform")
    np.testing.assert_array_equal(member.classes_, [0, 1])
    np.testing.assert_array_equal(
        member.predict_proba(good), member.estimator_.predict_proba(good)
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda p: ModalityBaggingClassifier(p, n_estimators=3, random_state=0),
        lambda p: EnsembleSelectionClassifier([("p", p)], cv=3, random_state=0),
        lambda p: MultimodalAdaBoostClassifier(
            p, n_estimators=2, weighting="resample", random_state=0
        ),
        lambda p: ModalityStackingClassifier(estimators=[("p", p)], cv=3),
    ],
    ids=["bagging", "selection", "adaboost_resample", "stacking"],
)
def test_object_array_table_names_the_users_row_number(make):
    """A raw table given as an object array (columns by position)."""
    table, y = _raw_table()
    X = table.to_numpy(dtype=object)
    pipe = make_pipeline(
        MultimodalEncoder([("text", TfidfVectorizer(), 0), ("num", "passthrough", 1)]),
        LogisticRegression(),
    )
    with pytest.raises(InvalidSampleError, match="whitespace") as info:
        make(pipe).fit(X, y)
    err = info.value
    assert (err.index if err.row is None else err.row) == BAD


@pytest.mark.parametrize("stacking", [False, True], ids=["bagging", "stacking"])
def test_regressors_name_the_users_row_label(stacking):
    from sklearn.linear_model import Ridge

    from skmm.ensemble import ModalityBaggingRegressor, ModalityStackingRegressor

    X, y = _raw_table(np.arange(1000, 1000 + N))
    pipe = make_pipeline(
        MultimodalEncoder(
            [("text", TfidfVectorizer(), "text"), ("num", "passthrough", "num")]
        ),
        Ridge(),
    )
    if stacking:
        ensemble = ModalityStackingRegressor(
            experts={"text": make_pipeline(_expert()[0], Ridge())}, cv=3
        )
    else:
        ensemble = ModalityBaggingRegressor(pipe, n_estimators=3, random_state=0)
    with pytest.raises(InvalidSampleError, match="whitespace") as info:
        ensemble.fit(X, y.astype(float))
    assert (info.value.row, info.value.column) == (1000 + BAD, "text")


@pytest.mark.parametrize(
    "make",
    [
        lambda e: ModalityStackingClassifier(experts={"text": e}, cv=2),
        lambda e: MultimodalAdaBoostClassifier(
            experts={"text": e}, n_estimators=2, random_state=0
        ),
    ],
    ids=["stacking", "adaboost"],
)
def test_raw_text_expert_gets_the_contract_cell_check(make):
    """A plain vectorizer pipeline as an expert: an empty text is an error
    naming the row (at fit and at predict), not a silent all-zero row."""
    expert = make_pipeline(TfidfVectorizer(), LogisticRegression())
    index = list(range(1000, 1000 + N))
    X, y = _raw_table(index=index)
    with pytest.raises(InvalidSampleError, match=rf"sample {BAD}, row {1000 + BAD}"):
        make(expert).fit(X[["text"]], y)
    good, y = _raw_table(index=index, bad=False)
    model = make(expert).fit(good[["text"]], y)
    with pytest.raises(InvalidSampleError, match=rf"row {1000 + BAD}: empty"):
        model.predict(X[["text"]])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_the_ensembles_own_input_check_names_the_row_label(n_jobs):
    # a partly missing block in an encoded matrix, found by the ensemble itself
    X, y = make_multimodal_classification(n_samples=60, random_state=0)
    X = X.set_axis(X.index + 1000)
    bad = X.copy()
    bad.iloc[7, 0] = np.nan
    expert = LogisticRegression()
    for est in (
        ModalityStackingClassifier(experts={"text": expert, "image": expert}, cv=3),
        MultimodalAdaBoostClassifier(
            experts={"text": expert, "image": expert}, n_estimators=2, random_state=0
        ),
    ):
        est.set_params(n_jobs=n_jobs).fit(X, y)
        with pytest.raises(InvalidSampleError, match=r"sample 7, row 1007: 1 of 16"):
            est.predict(bad)
