"""skmm.ensemble: modality-aware Bagging, AdaBoost, Stacking, ensemble selection."""

import contextlib

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.ensemble import AdaBoostClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from skmm.compose import MultimodalEncoder
from skmm.datasets import make_multimodal_classification
from skmm.ensemble import (
    EnsembleSelectionClassifier,
    ModalityBaggingClassifier,
    ModalityBaggingRegressor,
    ModalityStackingClassifier,
    ModalityStackingRegressor,
    MultimodalAdaBoostClassifier,
)
from skmm.ensemble._common import fit_weighted, is_raw_table, sample_weight_param
from skmm.exceptions import InvalidSampleError, LayoutError
from skmm.utils import (
    modality_presence,
    resolve_table_modalities,
    table_presence,
)

MODALITIES = ("text", "image", "audio")


# -- data ----------------------------------------------------------------------
def _numeric(n=300, seed=0, **kwargs):
    kwargs.setdefault("noise", 1.0)
    X, y = make_multimodal_classification(
        n,
        n_classes=3,
        modalities=dict.fromkeys(MODALITIES, 8),
        random_state=seed,
        **kwargs,
    )
    return X, y


def _cols(X, modality):
    return [c for c in X.columns if c.startswith(f"{modality}__")]


def _raw(n=90, seed=0, missing=0.0):
    """Raw table: text (words from the sign pattern of the text block), image and
    audio cells as small float arrays; ``missing`` of the cells set to None."""
    X, y = _numeric(n, seed, noise=0.6)
    words = np.where(X[_cols(X, "text")].to_numpy() > 0, "hi", "lo")
    text = [" ".join(f"{w}{j}" for j, w in enumerate(row)) for row in words]
    table = pd.DataFrame(
        {
            "text": pd.Series(text, dtype=object),
            "image": pd.Series(list(X[_cols(X, "image")].to_numpy()), dtype=object),
            "audio": pd.Series(list(X[_cols(X, "audio")].to_numpy()), dtype=object),
        }
    )
    if missing:
        rng = np.random.RandomState(seed)
        gone = rng.rand(n, 3) < missing
        gone[gone.all(axis=1), 0] = False
        for k, col in enumerate(table.columns):
            table.loc[gone[:, k], col] = None
    return table, y


def _encoder():
    return MultimodalEncoder(
        [
            ("text", TfidfVectorizer(), "text"),
            ("image", FunctionTransformer(np.vstack), "image"),
            ("audio", FunctionTransformer(np.vstack), "audio"),
        ]
    )


def _lr():
    return LogisticRegression(solver="newton-cg")


def _raw_pipeline():
    """Raw table -> encoder -> imputer (missing blocks) -> logistic regression."""
    return make_pipeline(
        _encoder(), SimpleImputer(keep_empty_features=True), StandardScaler(), _lr()
    )


def _raw_experts():
    return {
        "text": make_pipeline(TfidfVectorizer(), _lr()),
        "image": make_pipeline(FunctionTransformer(np.vstack), _lr()),
        "audio": make_pipeline(FunctionTransformer(np.vstack), _lr()),
    }


def _numeric_experts(est=None):
    est = _lr() if est is None else est
    return {m: make_pipeline(StandardScaler(), clone(est)) for m in MODALITIES}


def _ensembles_raw():
    """One raw-table instance of every ensemble (small, seeded)."""
    return [
        ModalityBaggingClassifier(
            _raw_pipeline(), n_estimators=4, max_modalities=2, random_state=0
        ),
        MultimodalAdaBoostClassifier(
            experts=_raw_experts(), n_estimators=4, random_state=0
        ),
        ModalityStackingClassifier(
            [("all", _raw_pipeline())], experts=_raw_experts(), cv=3
        ),
        EnsembleSelectionClassifier(
            [("lr", _raw_pipeline()), ("nb", make_pipeline(_encoder(), GaussianNB()))],
            ensemble_size=5,
            cv=3,
            random_state=0,
        ),
    ]


@contextlib.contextmanager
def _one_torch_thread():
    """Fusion nets on 1 torch thread: much faster on a busy 2-core machine."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _fusion(**params):
    fusion = pytest.importorskip("skmm.fusion")
    params = {"hidden_size": 8, "max_epochs": 8, "random_state": 0, **params}
    return fusion.FusionClassifier(**params)


# -- the helpers added to skmm.utils ----------------------------------------
def test_table_modality_helpers():
    table = pd.DataFrame({"text": ["a", None, None], "wave": [None, "w", None]})
    layout = resolve_table_modalities(table)
    assert layout == {"text": ["text"], "wave": ["wave"]}
    assert table_presence(table, layout).tolist() == [
        [True, False],
        [False, True],
        [False, False],
    ]
    grouped = resolve_table_modalities(table, {"both": ["text", 1]})
    assert grouped == {"both": ["text", "wave"]}
    assert table_presence(table, grouped)[:, 0].tolist() == [True, True, False]
    array = np.array([["a", None], [None, "b"]], dtype=object)
    assert resolve_table_modalities(array) == {"0": [0], "1": [1]}
    with pytest.raises(LayoutError, match="'image' is not in the table"):
        resolve_table_modalities(table, {"image": "image", "wave": "wave"})
    with pytest.raises(LayoutError, match="assigned to both"):
        resolve_table_modalities(table, {"a": "text", "b": ["text", "wave"]})
    with pytest.raises(LayoutError, match="belong to no modality"):
        resolve_table_modalities(table, {"a": "text"})
    X = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, 2.0]])
    layout = {"a": np.array([0, 1]), "b": np.array([2])}
    with pytest.raises(InvalidSampleError):
        modality_presence(X, layout)
    assert modality_presence(X, layout, partial="present")[:, 0].tolist() == [
        True,
        False,
    ]


def test_input_kind_and_weight_routing():
    X, _ = _numeric(10)
    raw, _ = _raw(10)
    assert not is_raw_table(X) and not is_raw_table(X.to_numpy())
    assert (
        is_raw_table(raw) and is_raw_table(raw.to_numpy()) and is_raw_table({"a": []})
    )
    assert sample_weight_param(LogisticRegression()) == "sample_weight"
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    assert sample_weight_param(pipe) == "logisticregression__sample_weight"
    assert sample_weight_param(make_pipeline(KNeighborsClassifier())) is None
    X, y = _numeric(60)
    w = np.r_[np.zeros(30), np.ones(30)]
    _, how = fit_weighted(clone(pipe), X, y, w, random_state=0)
    assert how == "weights"
    knn, how = fit_weighted(
        make_pipeline(KNeighborsClassifier(1)), X, y, w, random_state=0
    )
    assert how == "resample"
    # a weighted bootstrap of n rows that never draws a zero-weight row
    drawn = knn[-1]._fit_X[:, 0]
    assert drawn.size == 60 and np.isin(drawn, X.iloc[30:, 0]).all()


# -- bagging ------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
def test_bagging_raw_table_reaches_members_with_column_names():
    X, y = _raw(90)
    bag = ModalityBaggingClassifier(
        _raw_pipeline(),
        n_estimators=6,
        max_modalities=2,
        oob_score=True,
        random_state=0,
    ).fit(X, y)
    assert all(len(mods) == 2 for mods in bag.estimators_modalities_)
    for est, mods, feats in zip(
        bag.estimators_, bag.estimators_modalities_, bag.estimators_features_
    ):
        encoder = est[0]
        assert list(encoder.feature_names_in_) == ["text", "image", "audio"]
        dropped = {m for m in MODALITIES if m not in mods}
        assert {m for m, e in encoder.named_encoders_.items() if e == "drop"} == dropped
        assert [X.columns[j] for j in feats] == [m for m in X.columns if m in mods]
    assert 0.5 < bag.oob_score_ <= 1.0
    assert bag.score(X, y) > 0.7
    assert len(bag.estimators_samples_) == 6


def test_bagging_members_abstain_where_their_modalities_are_missing():
    X, y = _numeric(200)
    base = make_pipeline(SimpleImputer(), _lr())
    bag = ModalityBaggingClassifier(
        base, n_estimators=8, max_modalities=2, random_state=1
    ).fit(X, y)
    X_gap = X.iloc[:20].copy()
    X_gap[_cols(X, "audio")] = np.nan
    proba = bag.predict_proba(X_gap)
    voters = [
        (est, feats)
        for est, mods, feats in zip(
            bag.estimators_, bag.estimators_modalities_, bag.estimators_features_
        )
        if "audio" not in mods
    ]
    assert 0 < len(voters) < 8
    expected = np.mean(
        [est.predict_proba(X_gap.iloc[:, feats]) for est, feats in voters], axis=0
    )
    np.testing.assert_allclose(proba, expected)
    # "available": every member with a present modality votes (imputer handles NaN)
    bag.set_params(vote="available")
    expected = np.mean(
        [
            est.predict_proba(X_gap.iloc[:, feats])
            for est, feats in zip(bag.estimators_, bag.estimators_features_)
        ],
        axis=0,
    )
    np.testing.assert_allclose(bag.predict_proba(X_gap), expected)
    X_gap.iloc[3] = np.nan
    with pytest.raises(InvalidSampleError, match="sample 3: every member"):
        bag.predict(X_gap)


def test_bagging_fusion_degrades_less_than_single_fusion_net():
    """Image missing for half the test samples: the bag of fusion nets drawn on
    2 of 3 modalities loses less accuracy than one fusion net (measured: single
    0.807 -> 0.707, bag 0.560 -> 0.553)."""
    X, y = _numeric(450, noise=0.5)
    X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:], y[300:]
    X_gap = X_test.copy()
    X_gap.loc[np.random.RandomState(0).rand(150) < 0.5, _cols(X, "image")] = np.nan
    net = _fusion(fusion="early", hidden_size=16, max_epochs=20)
    with _one_torch_thread():
        single = clone(net).fit(X_train, y_train)
        bag = ModalityBaggingClassifier(
            net, n_estimators=8, max_modalities=2, random_state=0
        ).fit(X_train, y_train)
        single_loss = single.score(X_test, y_test) - single.score(X_gap, y_test)
        bag_loss = bag.score(X_test, y_test) - bag.score(X_gap, y_test)
    assert bag_loss < single_loss - 0.03


def test_bagged_members_honour_bootstrap_weights():
    """A sample_weight-aware member gets the full X and bootstrap counts."""
    X, y = _numeric(120)
    bag = ModalityBaggingClassifier(_lr(), n_estimators=3, random_state=0).fit(X, y)
    coefs = [est.coef_ for est in bag.estimators_]
    assert not np.allclose(coefs[0], coefs[1])
    counts = np.bincount(bag.estimators_samples_[0], minlength=120)
    assert (counts == 0).sum() > 20  # out-of-bag rows have zero weight
    refit = clone(bag.estimators_[0]).fit(X, y, sample_weight=counts)
    np.testing.assert_allclose(refit.coef_, coefs[0], rtol=1e-6)


def test_bagged_fusion_nets_differ_and_honour_weights(tmp_path):
    X, y = _numeric(90)
    with _one_torch_thread():
        bag = ModalityBaggingClassifier(
            _fusion(max_epochs=5), n_estimators=2, random_state=0
        ).fit(X, y)
        p0, p1 = (est.predict_proba(X) for est in bag.estimators_)
        assert np.abs(p0 - p1).max() > 0.05
        counts = np.bincount(bag.estimators_samples_[0], minlength=90)
        member = clone(bag.estimators_[0])  # same seed as member 0
        weighted = member.fit(X, y, sample_weight=counts).predict_proba(X)
        np.testing.assert_allclose(weighted, p0, atol=1e-5)
        unweighted = clone(bag.estimators_[0]).fit(X, y).predict_proba(X)
        assert np.abs(unweighted - p0).max() > 1e-3
        joblib.dump(bag, tmp_path / "bag.joblib")
        loaded = joblib.load(tmp_path / "bag.joblib")
        np.testing.assert_array_equal(loaded.predict_proba(X), bag.predict_proba(X))


def test_bagging_raw_fusion_pipeline():
    X, y = _raw(60, missing=0.15)
    pipe = make_pipeline(_encoder(), _fusion(max_epochs=3))
    with _one_torch_thread():
        bag = ModalityBaggingClassifier(
            pipe, n_estimators=2, max_modalities=2, random_state=0
        ).fit(X, y)
        assert bag.predict_proba(X).shape == (60, 3)
    assert all(len(est[-1].modalities_) == 2 for est in bag.estimators_)


def test_bagging_explicit_modalities_on_arrays():
    X, y = _numeric(80)
    layout = {m: [X.columns.get_loc(c) for c in _cols(X, m)] for m in MODALITIES}
    bag = ModalityBaggingClassifier(
        DecisionTreeClassifier(random_state=0),
        n_estimators=3,
        max_modalities=1,
        modalities=layout,
        random_state=0,
    ).fit(X.to_numpy(), y)
    for est, (mod,) in zip(bag.estimators_, bag.estimators_modalities_):
        assert all(name.startswith(f"{mod}__x") for name in est.feature_names_in_)
    assert bag.predict(X.to_numpy()[:5]).shape == (5,)


@pytest.mark.filterwarnings("ignore:Some inputs do not have OOB scores")
def test_bagging_regressor_raw_and_missing():
    X, _ = _raw(80, missing=0.1)
    target = np.arange(80, dtype=float) % 7
    pipe = make_pipeline(_encoder(), SimpleImputer(keep_empty_features=True), Ridge())
    reg = ModalityBaggingRegressor(
        pipe, n_estimators=4, max_modalities=2, oob_score=True, random_state=0
    ).fit(X, target)
    assert reg.predict(X).shape == (80,)
    assert np.isfinite(reg.oob_prediction_[~np.isnan(reg.oob_prediction_)]).all()


# -- boosting ---------------------------------------------------------------------
def test_adaboost_accepts_pipelines_sklearn_rejects():
    X, y = _numeric(150)
    pipe = make_pipeline(StandardScaler(), _lr())
    with pytest.raises(ValueError, match="sample_weight"):
        AdaBoostClassifier(pipe, n_estimators=2).fit(X, y)
    routed = MultimodalAdaBoostClassifier(pipe, n_estimators=4, random_state=0).fit(
        X, y
    )
    assert routed.estimator_weights_[0] > 0
    assert routed.estimators_modalities_ == [None] * len(routed.estimators_)
    # no step takes weights: seeded weighted resampling, reproducible
    knn = make_pipeline(StandardScaler(), KNeighborsClassifier(5))
    resampled = MultimodalAdaBoostClassifier(knn, n_estimators=3, random_state=0)
    p1 = resampled.fit(X, y).predict_proba(X)
    p2 = clone(resampled).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)


def test_adaboost_raw_experts_pick_a_modality_per_round():
    X, y = _raw(120, missing=0.2)
    boost = MultimodalAdaBoostClassifier(
        experts=_raw_experts(), n_estimators=5, random_state=0
    ).fit(X, y)
    assert set(boost.estimators_modalities_) <= set(MODALITIES)
    assert len(boost.estimators_modalities_) == len(boost.estimators_)
    assert boost.score(X, y) > 0.6
    X_gap = X.iloc[:6].copy()
    X_gap["text"] = None
    assert boost.predict(X_gap).shape == (6,)  # the text experts abstain
    X_gap.loc[X_gap.index[2], list(MODALITIES)] = None
    with pytest.raises(InvalidSampleError, match="sample 2"):
        boost.predict(X_gap)


def test_adaboost_fusion_base_estimator():
    X, y = _numeric(90)
    with _one_torch_thread():
        boost = MultimodalAdaBoostClassifier(
            _fusion(max_epochs=4), n_estimators=2, random_state=0
        ).fit(X, y)
        assert boost.predict_proba(X).shape == (90, 3)
    assert len(boost.estimators_) >= 1


# -- stacking ------------------------------------------------------------------
def test_stacking_absent_modality_is_explicit():
    X, y = _raw(120, missing=0.25)
    stack = ModalityStackingClassifier(
        [("all", _raw_pipeline())], experts=_raw_experts(), cv=3
    ).fit(X, y)
    meta = stack.transform(X)
    names = stack.get_feature_names_out().tolist()
    assert meta.shape == (120, len(names))
    assert not np.isnan(meta).any()
    prior = np.bincount(y, minlength=3) / len(y)
    np.testing.assert_allclose(stack.absent_fill_, prior)
    for modality in MODALITIES:
        cols = [n.endswith(f"_{modality}{i}") for i in range(3) for n in names]
        present = meta[:, names.index(f"modalitystackingclassifier_{modality}_present")]
        missing = X[modality].isna().to_numpy()
        np.testing.assert_array_equal(present, ~missing)
        block = meta[
            :,
            [
                names.index(f"modalitystackingclassifier_{modality}{i}")
                for i in range(3)
            ],
        ]
        np.testing.assert_allclose(block[missing], np.tile(prior, (missing.sum(), 1)))
        assert any(cols)
    assert stack.score(X, y) > 0.6
    assert set(stack.experts_) == set(MODALITIES)


def test_stacking_experts_with_their_own_encoder_get_a_sub_table():
    X, y = _raw(90, missing=0.2)
    experts = {
        m: make_pipeline(
            MultimodalEncoder([(m, enc, m)]), StandardScaler(with_mean=False), _lr()
        )
        for m, enc in [
            ("text", TfidfVectorizer()),
            ("image", FunctionTransformer(np.vstack)),
        ]
    }
    stack = ModalityStackingClassifier(experts=experts, cv=3).fit(X, y)
    assert stack.estimators_[0].takes_table_
    assert list(stack.experts_["text"][0].feature_names_in_) == ["text"]
    assert stack.predict(X).shape == (90,)


def test_stacking_regressor_experts():
    X, _ = _numeric(120, missing_rate=0.2)
    target = X[_cols(X, "text")[0]].fillna(0).to_numpy() + X[
        _cols(X, "audio")[0]
    ].fillna(0)
    stack = ModalityStackingRegressor(
        experts={"text": Ridge(), "audio": Ridge()},
        estimators=[("hgb_free", make_pipeline(SimpleImputer(), Ridge()))],
        cv=3,
    ).fit(X, target)
    meta = stack.transform(X)
    assert meta.shape == (120, 5) and not np.isnan(meta).any()
    assert stack.score(X, target) > 0.5


# -- ensemble selection ---------------------------------------------------------------
def test_ensemble_selection_raw_library():
    X, y = _raw(90)
    sel = EnsembleSelectionClassifier(
        [
            ("lr", _raw_pipeline()),
            ("nb", make_pipeline(_encoder(), GaussianNB())),
            ("knn", make_pipeline(_encoder(), KNeighborsClassifier(5))),
        ],
        ensemble_size=8,
        cv=3,
        random_state=0,
    ).fit(X, y)
    assert sel.weights_.sum() == pytest.approx(1.0)
    assert sel.ensemble_score_ >= np.nanmax(sel.candidate_scores_)
    assert len(sel.estimators_) == (sel.weights_ > 0).sum()
    assert sel.predict_proba(X).sum(axis=1) == pytest.approx(np.ones(90))
    greedy = sel.set_params(with_replacement=False, n_init=2, scoring="accuracy")
    assert (greedy.fit(X, y).weights_ <= 1 / 2 + 1e-12).all()


# -- every ensemble: grid search, pickling, parallelism --------------------------------
def test_nested_grid_search():
    X, y = _raw(90)
    grids = [
        (
            ModalityBaggingClassifier(_raw_pipeline(), n_estimators=2, random_state=0),
            {"estimator__logisticregression__C": [0.1, 1.0]},
        ),
        (
            MultimodalAdaBoostClassifier(
                experts=_raw_experts(), n_estimators=2, random_state=0
            ),
            {"experts__audio__logisticregression__C": [0.01, 1.0]},
        ),
        (
            ModalityStackingClassifier(experts=_raw_experts(), cv=2),
            {
                "experts__audio__logisticregression__C": [0.01, 1.0],
                "experts__image": ["drop", _raw_experts()["image"]],
            },
        ),
        (
            EnsembleSelectionClassifier(
                [("lr", _raw_pipeline())], ensemble_size=2, cv=2, random_state=0
            ),
            {"lr__logisticregression__C": [0.1, 1.0]},
        ),
    ]
    for est, grid in grids:
        search = GridSearchCV(est, grid, cv=2).fit(X, y)
        assert set(search.best_params_) == set(grid)
    stack = grids[2][0]
    params = stack.get_params()
    assert params["experts__text"] is stack.experts["text"]
    assert "experts__text__logisticregression__C" in params
    with pytest.raises(ValueError, match="no expert for modality 'video'"):
        stack.set_params(experts__video__C=1.0)


def test_nested_grid_search_over_fusion():
    X, y = _numeric(60)
    bag = ModalityBaggingClassifier(
        _fusion(max_epochs=2), n_estimators=2, random_state=0
    )
    with _one_torch_thread():
        search = GridSearchCV(bag, {"estimator__fusion": ["early", "late"]}, cv=2)
        search.fit(X, y)
    assert search.best_params_["estimator__fusion"] in ("early", "late")


@pytest.mark.parametrize("est", _ensembles_raw(), ids=lambda e: type(e).__name__)
def test_joblib_round_trip_raw(est, tmp_path):
    X, y = _raw(60, missing=0.1 if isinstance(est, ModalityStackingClassifier) else 0)
    est = clone(est).fit(X, y)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def _numeric_instances():
    return [
        ModalityBaggingClassifier(
            DecisionTreeClassifier(), n_estimators=6, max_modalities=2, random_state=0
        ),
        ModalityBaggingRegressor(
            DecisionTreeRegressor(max_depth=3), n_estimators=4, random_state=0
        ),
        MultimodalAdaBoostClassifier(
            experts=_numeric_experts(GaussianNB()), n_estimators=4, random_state=0
        ),
        ModalityStackingClassifier(
            [("tree", DecisionTreeClassifier(max_depth=3, random_state=0))],
            experts=_numeric_experts(GaussianNB()),
            cv=3,
        ),
        EnsembleSelectionClassifier(
            [("nb", GaussianNB()), ("tree", DecisionTreeClassifier(random_state=0))],
            ensemble_size=5,
            cv=3,
            random_state=0,
        ),
    ]


@pytest.mark.parametrize("est", _numeric_instances(), ids=lambda e: type(e).__name__)
def test_n_jobs_gives_the_same_results(est):
    with_experts = isinstance(
        est, (MultimodalAdaBoostClassifier, ModalityStackingClassifier)
    )
    X, y = _numeric(120, missing_rate=0.1 if with_experts else 0.0)
    one, two = clone(est), clone(est)
    if "n_jobs" in est.get_params(deep=False):
        one.set_params(n_jobs=1)
        two.set_params(n_jobs=2)
    method = "predict" if isinstance(est, ModalityBaggingRegressor) else "predict_proba"
    a = getattr(one.fit(X, y), method)(X)
    b = getattr(two.fit(X, y), method)(X)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# -- each ensemble beats its best single member -------------------------------------
def test_ensembles_beat_their_best_single_member():
    X, y = _numeric(600)
    X_train, y_train, X_test, y_test = X[:400], y[:400], X[400:], y[400:]

    def acc(model, X_=X_test):
        return model.score(X_, y_test)

    # bagging: the ensemble vs each of its members
    bag = ModalityBaggingClassifier(
        DecisionTreeClassifier(random_state=0), n_estimators=30, random_state=0
    ).fit(X_train, y_train)
    best_member = max(acc(est) for est in bag.estimators_)
    assert acc(bag) > best_member + 0.05

    # boosting and stacking over modality experts vs each expert alone
    expert = make_pipeline(StandardScaler(), _lr())
    best_expert = max(
        acc(clone(expert).fit(X_train[_cols(X, m)], y_train), X_test[_cols(X, m)])
        for m in MODALITIES
    )
    boost = MultimodalAdaBoostClassifier(
        experts=dict.fromkeys(MODALITIES, expert), n_estimators=15, random_state=0
    ).fit(X_train, y_train)
    assert acc(boost) > best_expert + 0.05
    stack = ModalityStackingClassifier(
        experts=dict.fromkeys(MODALITIES, expert), cv=3
    ).fit(X_train, y_train)
    assert acc(stack) > best_expert + 0.1

    # ensemble selection over a library of one-modality pipelines
    library = [
        (
            f"{name}_{m}",
            make_pipeline(
                make_column_transformer((StandardScaler(), _cols(X, m))), est
            ),
        )
        for m in MODALITIES
        for name, est in [("lr", _lr()), ("nb", GaussianNB())]
    ]
    sel = EnsembleSelectionClassifier(
        library, ensemble_size=15, cv=3, random_state=0
    ).fit(X_train, y_train)
    best_candidate = max(acc(clone(est).fit(X_train, y_train)) for _, est in library)
    assert acc(sel) > best_candidate + 0.05


# -- clear errors at fit -------------------------------------------------------
def test_clear_errors_at_fit():
    X, y = _raw(40)
    bad_expert = {"video": make_pipeline(TfidfVectorizer(), _lr())}
    for est in [
        ModalityStackingClassifier(experts=bad_expert, cv=2),
        MultimodalAdaBoostClassifier(experts=bad_expert, n_estimators=2),
    ]:
        with pytest.raises(ValueError, match="modality 'video' has no such modality"):
            est.fit(X, y)
    with pytest.raises(ValueError, match=r"'text' .*does not implement predict_proba"):
        ModalityStackingClassifier(
            experts={"text": make_pipeline(TfidfVectorizer(), SVC())}, cv=2
        ).fit(X, y)
    with pytest.raises(ValueError, match=r"'svc' .*does not implement predict_proba"):
        EnsembleSelectionClassifier(
            [("svc", make_pipeline(_encoder(), SVC()))], cv=2
        ).fit(X, y)
    with pytest.raises(ValueError, match="raw multimodal table"):
        ModalityBaggingClassifier().fit(X, y)
    with pytest.raises(ValueError, match="max_modalities=4 exceeds"):
        ModalityBaggingClassifier(_raw_pipeline(), max_modalities=4).fit(X, y)
    with pytest.raises(ValueError, match="sampled by whole modalities"):
        ModalityBaggingClassifier(_raw_pipeline(), max_features=0.5).fit(X, y)
    with pytest.raises(ValueError, match="passthrough"):
        ModalityStackingClassifier(experts=_raw_experts(), passthrough=True, cv=2).fit(
            X, y
        )
    bag = ModalityBaggingClassifier(_raw_pipeline(), n_estimators=1).fit(X, y)
    with pytest.raises(ValueError, match="fitted on a table with column names"):
        bag.predict(X.to_numpy())


# -- behaving like scikit-learn (issue 10) -----------------------------------------
def _flatten(X):
    return np.asarray(X, dtype=float).reshape(len(X), -1)


def _inf_to_nan(X):
    X = np.array(X, dtype=float)
    X[np.isinf(X)] = np.nan
    return X


def test_bagging_hands_partial_nan_and_inf_to_the_base_estimator():
    """As sklearn: gaps inside a modality are the base estimator's business (an
    imputing pipeline here); only a whole-NaN block is a missing modality."""
    X, y = _numeric(120)
    X = X.to_numpy(dtype=float, copy=True)
    X[::7, 0] = np.nan
    X[::11, 9] = np.inf
    X[::13, 17] = -np.inf
    base = make_pipeline(
        FunctionTransformer(_inf_to_nan),
        SimpleImputer(),
        DecisionTreeClassifier(random_state=0),
    )
    bag = ModalityBaggingClassifier(base, n_estimators=4, random_state=0).fit(X, y)
    assert bag.score(X, y) > 0.8
    with pytest.raises(ValueError, match=r"(?i)nan|infinity"):
        ModalityBaggingClassifier(
            DecisionTreeClassifier(), n_estimators=2, random_state=0
        ).fit(np.where(np.isinf(X), 1e300 * 10, X), y)


def test_stacking_multilabel_and_routing_like_sklearn():
    import sklearn

    X, y = _numeric(90)
    Y = np.column_stack([y == 0, y == 1, y == 2]).astype(int)
    stack = ModalityStackingClassifier(
        [("tree", DecisionTreeClassifier(max_depth=3, random_state=0))],
        final_estimator=KNeighborsClassifier(3),
        cv=3,
    ).fit(X, Y)
    assert stack.predict(X).shape == (90, 3)
    assert len(stack.classes_) == 3
    with pytest.raises(ValueError, match="experts support single-output"):
        ModalityStackingClassifier(experts=_numeric_experts(), cv=3).fit(X, Y)
    # metadata routing on: fit metadata is not routed to a final estimator that
    # did not request it (no UnsetMetadataPassedError), as in sklearn
    w = np.linspace(0.5, 2.0, 90)
    with sklearn.config_context(enable_metadata_routing=True):
        lr = _lr().set_fit_request(sample_weight=True)
        stack = ModalityStackingClassifier(
            [("lr", lr)],
            experts={"text": _lr().set_fit_request(sample_weight=True)},
            final_estimator=LogisticRegression(),
            cv=3,
        ).fit(X, y, sample_weight=w)
        assert stack.score(X, y) > 0.6


def test_adaboost_accepts_nd_input_like_sklearn():
    X, y = _numeric(90)
    X3 = X.to_numpy().reshape(90, 4, 6)
    base = make_pipeline(
        FunctionTransformer(_flatten), DecisionTreeClassifier(max_depth=2)
    )
    boost = MultimodalAdaBoostClassifier(base, n_estimators=3, random_state=0)
    assert boost.fit(X3, y).predict(X3).shape == (90,)
    assert boost.score(X3, y) > 0.6
