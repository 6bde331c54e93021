"""The multimodal data contract: raw tables, missing cells, layouts, round trips."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.ensemble import (
    BaggingClassifier,
    HistGradientBoostingClassifier,
    StackingClassifier,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline

from skmm.compose import MultimodalEncoder
from skmm.datasets import make_multimodal_classification
from skmm.exceptions import InvalidSampleError, LayoutError
from skmm.utils import (
    as_table,
    check_raw_column,
    get_column,
    infer_block_shape,
    is_missing,
    modality_presence,
    resolve_modalities,
)

COLORS = ["red", "blue", "green"]


def _table(n=60, missing=0.0, seed=0):
    """Text + numeric table where the label needs both columns."""
    rng = np.random.default_rng(seed)
    color = rng.integers(0, 3, n)
    size = rng.normal(size=n)
    y = (color == 0) ^ (size > 0)
    text = [f"a {COLORS[c]} thing" for c in color]
    df = pd.DataFrame({"text": pd.Series(text, dtype=object), "size": size})
    if missing:
        drop = rng.random(n) < missing
        df.loc[drop, "text"] = None
    return df, np.where(y, "yes", "no")


def _encoder(by_position=False):
    text, size = (0, 1) if by_position else ("text", "size")
    return MultimodalEncoder(
        [("text", TfidfVectorizer(), text), ("size", "passthrough", size)]
    )


# -- raw cells and tables ----------------------------------------------------


@pytest.mark.parametrize(
    "cell, expected",
    [
        (None, True),
        (np.nan, True),
        (pd.NA, True),
        (float("nan"), True),
        ("", False),
        ("x", False),
        (0.0, False),
        (np.zeros(2), False),
    ],
)
def test_is_missing(cell, expected):
    assert is_missing(cell) is expected


def test_check_raw_column_forms():
    images = np.zeros((3, 4, 4), dtype=np.uint8)
    assert len(check_raw_column(images)) == 3
    assert check_raw_column(np.array([["a"], ["b"]], dtype=object)) == ["a", "b"]
    assert check_raw_column(pd.DataFrame({"t": ["a", "b"]})) == ["a", "b"]
    waves = [np.zeros(5), np.zeros(7)]
    assert check_raw_column(waves)[1].shape == (7,)
    with pytest.raises(ValueError, match="string object received"):
        check_raw_column("hello")
    with pytest.raises(ValueError, match="empty"):
        check_raw_column([])
    with pytest.raises(ValueError, match="2 columns"):
        check_raw_column(pd.DataFrame({"a": [1], "b": [2]}))


def test_as_table_and_columns():
    table = as_table({"text": ["a", "b"], "image": np.zeros((2, 3, 3))})
    assert table.shape == (2, 2)
    assert get_column(table, "image")[0].shape == (3, 3)
    assert get_column(table, 0) == ["a", "b"]
    with pytest.raises(ValueError, match="same length"):
        as_table({"text": ["a"], "audio": [None, None]})
    with pytest.raises(ValueError, match="not in the table"):
        get_column(table, "audio")
    with pytest.raises(ValueError, match="column position"):
        get_column(np.empty((2, 2), dtype=object), "text")
    with pytest.raises(ValueError, match="DataFrame, a dict"):
        as_table(["a", "b"])


# -- layout ------------------------------------------------------------------


def test_resolve_modalities_from_names_and_mapping():
    names = ["a__x", "b__x", "a__y"]
    layout = resolve_modalities(names)
    assert {k: v.tolist() for k, v in layout.items()} == {"a": [0, 2], "b": [1]}
    layout = resolve_modalities(
        names, modalities={"first": ["a__x", "a__y"], "second": slice(1, 2)}
    )
    assert layout["first"].tolist() == [0, 2] and layout["second"].tolist() == [1]
    assert list(resolve_modalities(n_features=3)) == ["features"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"feature_names": ["a__x", "plain"]}, "Ambiguous"),
        ({"n_features": 3, "modalities": {"a": [0, 1], "b": [1, 2]}}, "overlap"),
        ({"n_features": 3, "modalities": {"a": [0, 1]}}, "belong to no modality"),
        ({"n_features": 3, "modalities": {"a": [0, 5]}}, "has 3 columns"),
        ({"n_features": 2, "modalities": {"a": ["x"], "b": [1]}}, "no feature names"),
        ({"n_features": 2, "modalities": {"a": [], "b": [0, 1]}}, "no columns"),
        ({"n_features": 2, "modalities": []}, "non-empty dict"),
    ],
)
def test_resolve_modalities_errors(kwargs, match):
    with pytest.raises(LayoutError, match=match):
        resolve_modalities(**kwargs)


def test_modality_presence_rejects_partial_blocks():
    layout = {"a": np.array([0, 1]), "b": np.array([2])}
    X = np.array([[1.0, np.nan, 2.0], [1.0, 1.0, 1.0]])
    with pytest.raises(InvalidSampleError, match=r"sample 0.*1 of 2 features"):
        modality_presence(X, layout)


def test_infer_block_shape_rejects_incomplete_grid():
    assert infer_block_shape(["x:0:0", "x:0:1", "x:1:0", "x:1:1"]) == (2, 2)
    assert infer_block_shape(["x:0:0", "x:0:1", "x:1:0"]) is None
    assert infer_block_shape(["x:0:1", "x:0:0"]) is None


# -- MultimodalEncoder ---------------------------------------------------------


def test_encoder_names_blocks_and_missing():
    X, y = _table(30, missing=0.3)
    Xt = _encoder().fit_transform(X, y)
    assert Xt.dtypes.unique().tolist() == [np.float32]
    assert list(resolve_modalities(Xt.columns)) == ["text", "size"]
    present = modality_presence(Xt.to_numpy(), resolve_modalities(Xt.columns))
    np.testing.assert_array_equal(present[:, 0], X["text"].notna().to_numpy())
    assert present[:, 1].all()


def test_encoder_accepts_dict_and_positional_array():
    X, _ = _table(20)
    by_name = _encoder().fit(X).transform(X)
    as_dict = _encoder().fit({k: X[k].tolist() for k in X}).transform(X)
    positional = _encoder(by_position=True).fit(X.to_numpy()).transform(X.to_numpy())
    np.testing.assert_array_equal(by_name.to_numpy(), as_dict.to_numpy())
    np.testing.assert_array_equal(by_name.to_numpy(), positional.to_numpy())


def test_encoder_bad_input_errors():
    X, y = _table(10)
    with pytest.raises(ValueError, match="Column 'image' is not in the table"):
        MultimodalEncoder([("image", "passthrough", "image")]).fit(X)
    bad = X.copy()
    bad["size"] = bad["size"].astype(object)
    bad.loc[3, "size"] = "big"
    with pytest.raises(InvalidSampleError, match="column 'size', sample 3"):
        MultimodalEncoder([("size", "passthrough", "size")]).fit(bad)
    with pytest.raises(ValueError, match="same length"):
        _encoder().fit({"text": ["a b"], "size": [1.0, 2.0]})
    with pytest.raises(ValueError, match="must not contain __"):
        MultimodalEncoder([("a__b", "passthrough", "size")]).fit(X)
    with pytest.raises(TypeError, match="pass an instance"):
        MultimodalEncoder([("text", TfidfVectorizer, "text")]).fit(X)
    with pytest.raises(ValueError, match="missing for every sample"):
        MultimodalEncoder([("text", TfidfVectorizer(), "text")]).fit(
            {"text": [None, None]}
        )
    with pytest.raises(ValueError, match="samples but y has"):
        _encoder().fit(X, y[:3])


def test_encoder_transform_with_a_modality_missing_for_the_whole_batch():
    X, y = _table(30)
    enc = _encoder().fit(X, y)
    batch = X.iloc[:2].copy()
    batch["text"] = None
    Xt = enc.transform(batch)
    assert Xt.shape == (2, len(enc.feature_names_out_))
    assert Xt.filter(like="text__").isna().all(axis=None)
    assert not Xt.filter(like="size__").isna().any(axis=None)


def test_encoder_params_route_to_encoders():
    enc = _encoder()
    assert "text__ngram_range" in enc.get_params()
    enc.set_params(text__ngram_range=(1, 2))
    assert enc.encoders[0][1].ngram_range == (1, 2)
    enc.set_params(text="drop")
    X, _ = _table(10)
    assert list(enc.fit_transform(X).columns) == ["size__size"]


# -- the contract survives sklearn's machinery ----------------------------------


def _pipe():
    return make_pipeline(
        _encoder(by_position=True),
        HistGradientBoostingClassifier(max_iter=30, random_state=0),
    )


def test_pipeline_grid_search_and_cross_val_score_with_missing():
    X, y = _table(200, missing=0.2)
    scores = cross_val_score(_pipe(), X, y, cv=3)
    assert scores.mean() > 0.8
    search = GridSearchCV(
        _pipe(),
        {"multimodalencoder__text__ngram_range": [(1, 1), (1, 2)]},
        cv=3,
    ).fit(X, y)
    assert search.best_score_ > 0.8


def test_joblib_round_trip_identical(tmp_path):
    X, y = _table(80, missing=0.2)
    model = clone(_pipe()).fit(X, y)
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(model.predict_proba(X), loaded.predict_proba(X))
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(model)).predict(X), model.predict(X)
    )


def test_raw_dataframe_inside_bagging_and_stacking():
    """sklearn's own ensembles turn DataFrames into arrays: positions still work."""
    X, y = _table(120, missing=0.2)
    bag = BaggingClassifier(_pipe(), n_estimators=3, random_state=0).fit(X, y)
    assert bag.score(X, y) > 0.8
    stack = StackingClassifier(
        [("hgb", _pipe())], final_estimator=LogisticRegression(), cv=3
    ).fit(X, y)
    assert stack.score(X, y) > 0.8


def test_names_lost_inside_sklearn_ensembles_need_modalities():
    """Without names (arrays inside sklearn ensembles) the layout is explicit."""
    X, _ = make_multimodal_classification(40, random_state=0)
    explicit = resolve_modalities(
        n_features=X.shape[1],
        modalities={
            m: slice(16 * k, 16 * (k + 1)) for k, m in enumerate(["t", "i", "a"])
        },
    )
    named = resolve_modalities(X.columns)
    for a, b in zip(explicit.values(), named.values()):
        np.testing.assert_array_equal(a, b)


def test_set_output_and_index_preserved():
    X, y = _table(12)
    X.index = np.arange(100, 112)
    enc = _encoder().fit(X)
    assert enc.transform(X).index.tolist() == X.index.tolist()
    pipe = Pipeline([("enc", _encoder()), ("clf", LogisticRegression())])
    pipe.set_output(transform="pandas").fit(X, y)
    assert pipe[:-1].transform(X).columns[0].startswith("text__")


def test_encoded_matrix_inside_sklearn_adaboost_with_explicit_modalities():
    """sklearn's AdaBoost strips names: the layout is passed with modalities=.

    (It also rejects NaN, hence missing modalities: MultimodalAdaBoostClassifier
    takes them, see below.)
    """
    from sklearn.ensemble import AdaBoostClassifier

    from skmm.fusion import FusionClassifier

    X, y = make_multimodal_classification(200, random_state=0)
    layout = {m: slice(16 * k, 16 * (k + 1)) for k, m in enumerate(["t", "i", "a"])}
    net = FusionClassifier(
        "late", modalities=layout, hidden_size=16, max_epochs=15, random_state=0
    )
    boost = AdaBoostClassifier(net, n_estimators=3, random_state=0)
    boost.fit(X[:150], y[:150])
    assert list(boost.estimators_[0].modalities_) == ["t", "i", "a"]
    assert boost.score(X[150:], y[150:]) > 0.6
    restored = pickle.loads(pickle.dumps(boost))
    np.testing.assert_array_equal(restored.predict(X), boost.predict(X))


def test_raw_dataframe_inside_multimodal_adaboost():
    """sklearn's AdaBoost rejects a Pipeline; skmm's routes weights to its end."""
    from skmm.ensemble import MultimodalAdaBoostClassifier

    X, y = _table(160, missing=0.2)
    boost = MultimodalAdaBoostClassifier(
        make_pipeline(
            _encoder(),
            HistGradientBoostingClassifier(max_iter=20, random_state=0),
        ),
        n_estimators=3,
        random_state=0,
    ).fit(X, y)
    assert boost.score(X, y) > 0.8


# ---------------------------------------------------------------------------
# contract helpers added for hostile input (issue 12)
# ---------------------------------------------------------------------------
def test_open_regular_file_refuses_special_files(tmp_path):
    import os

    from skmm.exceptions import InvalidSampleError
    from skmm.utils._contract import open_regular_file

    regular = tmp_path / "a.bin"
    regular.write_bytes(b"abc")
    fd = open_regular_file(regular)
    with os.fdopen(fd, "rb") as f:
        assert f.read() == b"abc"
    with pytest.raises(InvalidSampleError, match="not found"):
        open_regular_file(tmp_path / "missing.wav", what="audio file")
    with pytest.raises(InvalidSampleError, match="got a directory"):
        open_regular_file(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        with pytest.raises(InvalidSampleError, match="FIFO") as info:
            open_regular_file(tmp_path / "pipe", what="image file")
        assert info.value.source == str(tmp_path / "pipe")


@pytest.mark.parametrize("cell", ["", " \t", b"text", 3.5, ["a"], ("a",)])
def test_check_text_cell_rejects_non_texts(cell):
    from skmm.exceptions import InvalidSampleError
    from skmm.utils._contract import check_text_cell

    with pytest.raises(InvalidSampleError) as info:
        check_text_cell(cell, index=2, column="caption", row="id9")
    assert (info.value.index, info.value.column, info.value.row) == (
        2,
        "caption",
        "id9",
    )
    assert check_text_cell("ok") == "ok"


def test_invalid_sample_error_row_label_and_pickle():
    from skmm.exceptions import InvalidSampleError

    err = InvalidSampleError("bad", index=3, column="text", row="r7", source="a.txt")
    assert str(err) == "column 'text', sample 3, row 'r7' ('a.txt'): bad"
    # a label equal to the position is not repeated
    assert str(InvalidSampleError("bad", index=3, row=3)) == "sample 3: bad"
    again = pickle.loads(pickle.dumps(err))
    assert (again.row, again.index, str(again)) == ("r7", 3, str(err))


def test_as_table_pairs_series_by_label():
    from skmm.utils import as_table

    a = pd.Series(["x", "y"], index=[1, 2])
    b = pd.Series([20.0, 10.0], index=[2, 1])
    table = as_table({"a": a, "b": b, "c": [True, False]})
    assert table.index.tolist() == [1, 2]
    assert table["b"].tolist() == [10.0, 20.0]
    assert table["c"].tolist() == [True, False]  # positional
    with pytest.raises(ValueError, match="different indexes"):
        as_table({"a": a, "b": pd.Series([1.0, 2.0], index=[1, 3])})
    with pytest.raises(ValueError, match="different indexes"):
        as_table({"a": a, "b": pd.Series([1.0, 2.0], index=[1, 1])})
