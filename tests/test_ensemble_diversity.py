"""Diverse libraries, diversity measures, snapshot and deep ensembles."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier

from skmm.datasets import make_multimodal_classification
from skmm.ensemble import (
    EnsembleSelectionClassifier,
    ModalityBaggingClassifier,
    ModalityExpertClassifier,
    ModalityStackingClassifier,
    MultimodalAdaBoostClassifier,
    SnapshotEnsembleClassifier,
    ensemble_diversity,
    make_library,
    prediction_diversity,
)
from skmm.fusion import FusionClassifier

MODALITIES = ["text", "image", "audio"]
TINY_NET = {"hidden_size": 8, "max_epochs": 4, "lr": 1e-2, "batch_size": 64}


def _cols(X, modality):
    return [c for c in X.columns if c.startswith(f"{modality}__")]


@pytest.fixture(scope="module")
def data():
    X, y = make_multimodal_classification(
        240, n_classes=3, modalities=dict.fromkeys(MODALITIES, 4), random_state=0
    )
    return X[:160], y[:160], X[160:], y[160:]


def _gap(X, modality, rows):
    X = X.copy()
    X.loc[X.index[rows], _cols(X, modality)] = np.nan
    return X


# -- prediction_diversity: hand computations -----------------------------------
def test_prediction_diversity_matches_hand_computation_on_labels():
    y = np.array([0, 0, 1, 1, 1])
    labels = np.array(
        [
            [0, 0, 1, 1, 0],  # wrong on 4
            [0, 1, 1, 0, 0],  # wrong on 1, 3, 4
            [1, 0, 1, 1, 1],  # wrong on 0
        ]
    )
    div = prediction_diversity(labels, y, names=["a", "b", "c"])
    assert div.names == ["a", "b", "c"]
    np.testing.assert_allclose(div.accuracy, [4 / 5, 2 / 5, 4 / 5])
    # disagreement a-b: samples 1, 3 -> 2/5; a-c: 0, 4 -> 2/5; b-c: 0,1,3,4 -> 4/5
    np.testing.assert_allclose(
        div.disagreement, [[0, 0.4, 0.4], [0.4, 0, 0.8], [0.4, 0.8, 0]]
    )
    # double faults: a-b both wrong on 4 -> 1/5; a-c none; b-c none
    np.testing.assert_allclose(
        div.double_fault, [[0.2, 0.2, 0], [0.2, 0.6, 0], [0, 0, 0.2]]
    )
    # error indicators a=(0,0,0,0,1) b=(0,1,0,1,1): phi = (5*1 - 1*3) /
    # sqrt(1*4*3*2) = 2 / sqrt(24)
    ea = np.array([0, 0, 0, 0, 1.0])
    eb = np.array([0, 1, 0, 1, 1.0])
    ec = np.array([1, 0, 0, 0, 0.0])
    expected_ab = np.corrcoef(ea, eb)[0, 1]
    assert expected_ab == pytest.approx(2 / np.sqrt(24))
    assert div.error_correlation[0, 1] == pytest.approx(expected_ab)
    assert div.error_correlation[0, 2] == pytest.approx(np.corrcoef(ea, ec)[0, 1])
    assert div.error_correlation[1, 2] == pytest.approx(np.corrcoef(eb, ec)[0, 1])
    assert div.mean_disagreement == pytest.approx((0.4 + 0.4 + 0.8) / 3)
    assert "ambiguity" not in div  # labels carry no probabilities


def test_prediction_diversity_probabilities_ambiguity_and_weights():
    y = np.array([0, 1])
    proba = np.array(
        [
            [[0.9, 0.1], [0.4, 0.6]],
            [[0.6, 0.4], [0.8, 0.2]],
        ]
    )
    div = prediction_diversity(proba, y, weights=[3, 1])
    np.testing.assert_allclose(div.weights, [0.75, 0.25])
    average = 0.75 * proba[0] + 0.25 * proba[1]  # [[.825,.175],[.5,.5]]
    spread = ((proba - average) ** 2).sum(axis=2)  # (members, samples)
    expected = np.mean(0.75 * spread[0] + 0.25 * spread[1])
    assert div.ambiguity == pytest.approx(expected)
    # weighted average predicts 0 for sample 0 (right), a tie -> 0 for sample 1
    assert div.ensemble_accuracy == pytest.approx(0.5)
    np.testing.assert_allclose(div.accuracy, [1.0, 0.5])
    np.testing.assert_allclose(div.disagreement[0, 1], 0.5)


def test_prediction_diversity_abstentions_compare_common_samples():
    y = np.array([0, 1, 1, 0])
    nan = [np.nan, np.nan]
    proba = np.array(
        [
            [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]],
            [nan, [0.2, 0.8], [0.1, 0.9], nan],  # abstains on 0 and 3
        ]
    )
    div = prediction_diversity(proba, y, classes=[0, 1])
    np.testing.assert_allclose(div.coverage, [1.0, 0.5])
    np.testing.assert_allclose(div.accuracy, [0.75, 1.0])
    # over samples 1 and 2 only: they disagree on sample 2
    assert div.disagreement[0, 1] == pytest.approx(0.5)
    # the ensemble average on 0 and 3 is member 0 alone
    assert div.ensemble_accuracy == pytest.approx(1.0)


def test_prediction_diversity_rejects_bad_shapes():
    with pytest.raises(ValueError, match="n_samples=3"):
        prediction_diversity(np.zeros((2, 4)), [0, 1, 0])
    with pytest.raises(ValueError, match="pass classes"):
        prediction_diversity(np.zeros((2, 3, 3)), [0, 1, 0])
    with pytest.raises(ValueError, match="weights"):
        prediction_diversity(np.zeros((2, 3)), [0, 1, 0], weights=[1, -1])


# -- ensemble_diversity on fitted ensembles ------------------------------------
def test_ensemble_diversity_of_selection_uses_selected_members_and_weights(data):
    X_train, y_train, X_test, y_test = data
    library = [
        ("lr", LogisticRegression()),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=2, random_state=0)),
    ]
    sel = EnsembleSelectionClassifier(library, ensemble_size=8, cv=3, random_state=0)
    sel.fit(X_train, y_train)
    div = ensemble_diversity(sel, X_test, y_test)
    selected = [name for name, w in zip(["lr", "nb", "tree"], sel.weights_) if w > 0]
    assert div.names == selected
    np.testing.assert_allclose(
        div.weights, sel.weights_[sel.weights_ > 0] / sel.weights_.sum()
    )
    for name, acc in zip(div.names, div.accuracy):
        assert acc == pytest.approx(sel.named_estimators_[name].score(X_test, y_test))
    if len(selected) > 1:
        assert div.ensemble_accuracy == pytest.approx(sel.score(X_test, y_test))


def test_ensemble_diversity_expert_abstains_where_modality_missing(data):
    X_train, y_train, X_test, y_test = data
    imputed_lr = make_pipeline(SimpleImputer(add_indicator=True), LogisticRegression())
    stack = ModalityStackingClassifier(
        [("lr", imputed_lr)],
        experts={"text": LogisticRegression(), "audio": GaussianNB()},
        cv=3,
    ).fit(X_train, y_train)
    X_gap = _gap(X_test, "audio", slice(0, 40))
    div = ensemble_diversity(stack, X_gap, y_test)
    assert div.names == ["text", "audio", "lr"]
    np.testing.assert_allclose(div.coverage, [1.0, 0.5, 1.0])
    audio = stack.experts_["audio"]
    rows = slice(40, None)
    expected = audio.score(X_test[_cols(X_test, "audio")][rows], y_test[rows])
    assert div.accuracy[1] == pytest.approx(expected)


def test_ensemble_diversity_bagging_and_boosting(data):
    X_train, y_train, X_test, y_test = data
    bag = ModalityBaggingClassifier(
        LogisticRegression(), n_estimators=4, max_modalities=1, random_state=0
    ).fit(X_train, y_train)
    div = ensemble_diversity(bag, X_test, y_test)
    assert len(div.names) == 4 and div.names[0].startswith("0:")
    for k, est in enumerate(bag.estimators_):
        cols = X_test.columns[bag.estimators_features_[k]]
        expected = np.mean(bag.classes_[est.predict(X_test[cols])] == y_test)
        assert div.accuracy[k] == pytest.approx(expected)
    # one-modality members differ: they disagree on some samples
    assert div.mean_disagreement > 0
    boost = MultimodalAdaBoostClassifier(
        experts=dict.fromkeys(MODALITIES, LogisticRegression()),
        n_estimators=3,
        random_state=0,
    ).fit(X_train, y_train)
    div = ensemble_diversity(boost, X_test, y_test)
    assert len(div.names) == len(boost.estimators_)
    np.testing.assert_allclose(
        div.weights,
        boost.estimator_weights_[: len(boost.estimators_)]
        / boost.estimator_weights_[: len(boost.estimators_)].sum(),
    )


def test_ensemble_diversity_rejects_regressors_and_unfitted(data):
    from skmm.ensemble import ModalityBaggingRegressor

    _, _, X_test, y_test = data
    with pytest.raises(ValueError, match="classifier"):
        ensemble_diversity(ModalityBaggingRegressor(), X_test, y_test)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ensemble_diversity(ModalityBaggingClassifier(), X_test, y_test)


# -- ModalityExpertClassifier ----------------------------------------------------
def test_modality_expert_learns_and_falls_back_on_prior(data):
    X_train, y_train, X_test, y_test = data
    y_str = np.array(["cat", "dog", "eel"])[y_train]
    expert = ModalityExpertClassifier(LogisticRegression(), "image").fit(X_train, y_str)
    assert expert.classes_.tolist() == ["cat", "dog", "eel"]
    assert expert.score(X_test, np.array(["cat", "dog", "eel"])[y_test]) > 0.5
    np.testing.assert_allclose(
        expert.prior_, np.bincount(y_train, minlength=3) / len(y_train)
    )
    X_gap = _gap(X_test, "image", slice(0, 10))
    proba = expert.predict_proba(X_gap)
    np.testing.assert_allclose(proba[:10], np.tile(expert.prior_, (10, 1)))
    np.testing.assert_allclose(proba[10:], expert.predict_proba(X_test)[10:])
    nan_expert = clone(expert).set_params(absent="nan").fit(X_train, y_str)
    assert np.isnan(nan_expert.predict_proba(X_gap)[:10]).all()
    assert nan_expert.predict(X_gap)[0] == expert.classes_[np.argmax(expert.prior_)]


def test_modality_expert_fits_only_present_rows_and_rejects_unknown_modality(data):
    X_train, y_train, _, _ = data
    X_gap = _gap(X_train, "text", slice(0, 60))
    expert = ModalityExpertClassifier(LogisticRegression(), "text").fit(X_gap, y_train)
    assert expert.n_present_ == 100
    with pytest.raises(ValueError, match="no such modality"):
        ModalityExpertClassifier(LogisticRegression(), "video").fit(X_train, y_train)


# -- make_library -------------------------------------------------------------------
def test_make_library_presets_names_and_seeds():
    lib = make_library("diverse", modalities=MODALITIES, random_state=0)
    names = [n for n, _ in lib]
    assert len(names) == len(set(names)) == 8 + 3 + 4
    assert all("__" not in n for n in names)
    assert names[:2] == ["early_mlp", "early_mlp_mdrop30"]
    assert {"expert_text", "expert_image", "expert_audio", "logreg", "hgb"} <= set(
        names
    )
    seeds = [e.random_state for _, e in lib if isinstance(e, FusionClassifier)]
    assert len(set(seeds)) == len(seeds)
    again = make_library("diverse", modalities=MODALITIES, random_state=0)
    assert [e.get_params()["random_state"] for _, e in lib if hasattr(e, "fusion")] == [
        e.get_params()["random_state"] for _, e in again if hasattr(e, "fusion")
    ]
    nets = make_library("networks", fusions=["late"], n_seeds=2)
    assert [n for n, _ in nets] == [
        "late_mlp_s0",
        "late_mlp_s1",
        "late_identity_s0",
        "late_identity_s1",
    ]
    assert make_library("classical")[-1][0] == "knn"  # no modalities: no experts


def test_make_library_layout_and_errors():
    lib = make_library(
        "fast",
        modalities={"a": [0, 1], "b": [2, 3]},
        network_params={"hidden_size": 4},
    )
    assert lib[0][1].modalities == {"a": [0, 1], "b": [2, 3]}
    assert lib[0][1].hidden_size == 4
    assert dict(lib)["expert_b"].modalities == {"a": [0, 1], "b": [2, 3]}
    with pytest.raises(ValueError, match="Unknown preset"):
        make_library("huge")
    with pytest.raises(ValueError, match="modality names"):
        make_library("fast", experts=True)
    with pytest.raises(ValueError, match="Unknown classical"):
        make_library("fast", classical=["svm"])
    with pytest.raises(ValueError, match="empty"):
        make_library("classical", experts=False, classical=[])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        make_library("fast", modality_dropout=[1.5])


@pytest.fixture(scope="module")
def fitted_selection(data):
    X_train, y_train, _, _ = data
    library = make_library(
        "fast",
        modalities=MODALITIES,
        fusions=["late"],
        classical=["logreg"],
        network_params=TINY_NET,
        random_state=0,
    )
    sel = EnsembleSelectionClassifier(library, ensemble_size=6, cv=2, random_state=0)
    return sel.fit(X_train, y_train)


def test_library_in_selection_learns_and_survives_round_trips(data, fitted_selection):
    X_train, y_train, X_test, y_test = data
    sel = fitted_selection
    assert sel.score(X_test, y_test) > 0.6  # 3 classes: chance is ~0.33
    X_gap = _gap(X_test, "audio", slice(0, 40))
    proba = sel.predict_proba(X_gap)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    for loaded in (
        pickle.loads(pickle.dumps(sel)),
        _joblib_round_trip(sel),
    ):
        np.testing.assert_allclose(loaded.predict_proba(X_gap), proba)
    refit = clone(sel).fit(X_train, y_train)
    np.testing.assert_allclose(refit.predict_proba(X_test), sel.predict_proba(X_test))


def _joblib_round_trip(est, tmp=None):
    import io

    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def test_library_members_tunable_by_grid_search(data):
    X_train, y_train, _, _ = data
    library = make_library(
        "fast", modalities=MODALITIES, fusions=[], classical=["logreg"]
    )
    stack = ModalityStackingClassifier(library, cv=2)
    grid = GridSearchCV(
        stack,
        {"expert_text": ["drop", dict(library)["expert_text"]]},
        cv=2,
    ).fit(X_train, y_train)
    assert len(grid.cv_results_["params"]) == 2
    assert grid.best_estimator_.score(X_train, y_train) > 0.6


# -- snapshot and deep ensembles -----------------------------------------------------
@pytest.fixture(scope="module")
def snapshot(data):
    X_train, y_train, _, _ = data
    net = FusionClassifier(
        "late", **{**TINY_NET, "max_epochs": 99, "lr": 3e-2}, random_state=0
    )
    return SnapshotEnsembleClassifier(net, n_snapshots=3, cycle_epochs=4).fit(
        X_train, y_train
    )


def test_snapshot_ensemble_takes_one_snapshot_per_cycle(data, snapshot):
    _, _, X_test, y_test = data
    assert snapshot.snapshot_epochs_ == [4, 8, 12]
    assert len(snapshot.estimator_.history_) == 12  # max_epochs replaced
    assert snapshot.estimator.max_epochs == 99  # the parameter is not mutated
    probas = [m.predict_proba(X_test) for m in snapshot.estimators_]
    np.testing.assert_allclose(snapshot.predict_proba(X_test), np.mean(probas, axis=0))
    # the last snapshot is the trained network; earlier ones differ from it
    np.testing.assert_allclose(probas[-1], snapshot.estimator_.predict_proba(X_test))
    assert not np.allclose(probas[0], probas[-1])
    assert snapshot.score(X_test, y_test) > 0.55  # 3 classes: chance is ~0.33


def test_snapshot_learning_rate_follows_cosine_cycles(data):
    X_train, y_train, _, _ = data
    net = FusionClassifier("early", **TINY_NET, optimizer="sgd", random_state=0)
    lrs = []

    from skorch.callbacks import Callback

    class Record(Callback):
        def on_batch_end(self, net, **kwargs):
            lrs.append(net.optimizer_.param_groups[0]["lr"])

    net.set_params(callbacks=[("record", Record())], batch_size=80)  # 2 batches
    SnapshotEnsembleClassifier(net, n_snapshots=2, cycle_epochs=2).fit(X_train, y_train)
    base = TINY_NET["lr"]
    position = np.arange(4) / 4
    expected = base * 0.5 * (1 + np.cos(np.pi * position))
    np.testing.assert_allclose(lrs, np.concatenate([expected, expected]), rtol=1e-6)


def test_snapshot_missing_modalities_round_trips_and_errors(data, snapshot):
    X_train, y_train, X_test, _ = data
    X_gap = _gap(X_test, "image", slice(0, 30))
    proba = snapshot.predict_proba(X_gap)
    assert np.isfinite(proba).all()
    for loaded in (pickle.loads(pickle.dumps(snapshot)), _joblib_round_trip(snapshot)):
        np.testing.assert_allclose(loaded.predict_proba(X_gap), proba)
    with pytest.raises(ValueError, match="early_stopping"):
        SnapshotEnsembleClassifier(
            FusionClassifier(early_stopping=True), n_snapshots=2, cycle_epochs=1
        ).fit(X_train, y_train)
    with pytest.raises(ValueError, match="max_epochs and callbacks"):
        SnapshotEnsembleClassifier(LogisticRegression()).fit(X_train, y_train)
    with pytest.raises(ValueError, match="n_snapshots"):
        SnapshotEnsembleClassifier(n_snapshots=0).fit(X_train, y_train)


def test_snapshot_in_grid_search(data):
    X_train, y_train, _, _ = data
    net = FusionClassifier("early", **TINY_NET, random_state=0)
    grid = GridSearchCV(
        SnapshotEnsembleClassifier(net, n_snapshots=2, cycle_epochs=2),
        {"estimator__hidden_size": [4, 8]},
        cv=2,
    ).fit(X_train, y_train)
    assert len(grid.best_estimator_.estimators_) == 2


def test_deep_ensemble_is_bagging_without_bootstrap(data):
    X_train, y_train, X_test, y_test = data
    net = FusionClassifier("early", **TINY_NET, random_state=0)
    deep = ModalityBaggingClassifier(
        net, n_estimators=3, bootstrap=False, random_state=0
    ).fit(X_train, y_train)
    n = len(y_train)
    for samples in deep.estimators_samples_:
        assert sorted(samples) == list(range(n))  # every row once
    seeds = {m.random_state for m in deep.estimators_}
    assert len(seeds) == 3
    div = ensemble_diversity(deep, X_test, y_test)
    assert not np.allclose(
        deep.estimators_[0].predict_proba(X_test),
        deep.estimators_[1].predict_proba(X_test),
    )
    assert div.mean_error_correlation < 1


# -- out-of-fold weights per pattern of present modalities ----------------------
def test_selection_weights_per_pattern_of_present_modalities():
    X, y = make_multimodal_classification(
        400, n_classes=3, modalities=dict.fromkeys(MODALITIES, 4), random_state=0
    )
    gap = np.random.RandomState(0).rand(400) < 0.5
    X = _gap(X, "audio", np.flatnonzero(gap))
    library = [
        (f"expert_{m}", ModalityExpertClassifier(LogisticRegression(), m))
        for m in MODALITIES
    ]
    sel = EnsembleSelectionClassifier(
        library, ensemble_size=20, cv=3, per_pattern=True, random_state=0
    ).fit(X[:300], y[:300])
    assert set(sel.pattern_weights_) == {
        ("text", "image"),
        ("text", "image", "audio"),
    }
    # where audio is missing its expert knows nothing: no weight there
    assert sel.pattern_weights_[("text", "image")][2] == 0
    assert sel.pattern_weights_[("text", "image", "audio")][2] > 0
    for weights in sel.pattern_weights_.values():
        assert weights.sum() == pytest.approx(1.0)
    # predictions mix the members with the weights of each sample's pattern
    X_test = X[300:]
    proba = sel.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    members = {n: e.predict_proba(X_test) for n, e in sel.named_estimators_.items()}
    missing = X_test[_cols(X_test, "audio")].isna().all(axis=1).to_numpy()
    for rows, key in [(missing, ("text", "image")), (~missing, tuple(MODALITIES))]:
        expected = sum(
            w * members[name][rows]
            for name, w in zip(dict(library), sel.pattern_weights_[key])
            if w > 0
        )
        np.testing.assert_allclose(proba[rows], expected)
    # a single pattern in training: nothing per pattern, global weights only
    full = clone(sel).fit(*make_multimodal_classification(120, random_state=0))
    assert full.pattern_weights_ == {}


def test_selection_reports_out_of_fold_diversity(fitted_selection):
    sel = fitted_selection
    div = sel.diversity_
    assert div.names == [name for name, _ in sel.estimators]
    np.testing.assert_allclose(div.weights, sel.weights_ / sel.weights_.sum())
    # accuracies are those of the out-of-fold predictions the selection used
    assert div.disagreement.shape == (len(div.names),) * 2
    assert 0 < div.mean_disagreement < 1


def test_bagging_draws_member_params_from_member_seeds(data):
    X_train, y_train, X_test, _ = data
    net = FusionClassifier("early", **TINY_NET, random_state=0)
    bag = ModalityBaggingClassifier(
        net,
        n_estimators=4,
        bootstrap=False,
        member_params={"fusion": ["early", "late", "gated"], "hidden_size": [4, 8]},
        random_state=0,
    ).fit(X_train, y_train)
    drawn = bag.estimators_params_
    assert [m.fusion for m in bag.estimators_] == [d["fusion"] for d in drawn]
    assert [m.hidden_size for m in bag.estimators_] == [d["hidden_size"] for d in drawn]
    assert len({d["fusion"] for d in drawn}) > 1
    assert bag.estimator.fusion == "early"  # the parameter is not mutated
    again = clone(bag).fit(X_train, y_train)
    assert again.estimators_params_ == drawn
    np.testing.assert_allclose(again.predict_proba(X_test), bag.predict_proba(X_test))
    with pytest.raises(ValueError, match="non-empty list"):
        clone(bag).set_params(member_params={"fusion": "late"}).fit(X_train, y_train)


# -- SAMME.R ------------------------------------------------------------------------
def test_samme_r_matches_hand_computation_and_handles_abstentions(data):
    X_train, y_train, X_test, y_test = data
    experts = {m: LogisticRegression() for m in MODALITIES}
    boost = MultimodalAdaBoostClassifier(
        experts=experts, n_estimators=4, algorithm="SAMME.R", random_state=0
    ).fit(X_train, y_train)
    assert len(boost.estimators_) == 4
    np.testing.assert_allclose(boost.estimator_weights_, 1.0)
    # decision = mean over members of (K - 1) * (log p - mean log p)
    K = 3
    h = []
    for member, modality in zip(boost.estimators_, boost.estimators_modalities_):
        proba = member.estimator_.predict_proba(X_test[_cols(X_test, modality)])
        log_p = np.log(np.clip(proba, np.finfo(float).eps, None))
        h.append((K - 1) * (log_p - log_p.mean(axis=1, keepdims=True)))
    np.testing.assert_allclose(boost.decision_function(X_test), np.mean(h, axis=0))
    assert boost.score(X_test, y_test) > 0.6
    # a missing modality: its experts abstain, the others decide
    X_gap = _gap(X_test, "audio", slice(None))
    kept = [m != "audio" for m in boost.estimators_modalities_]
    if any(kept) and not all(kept):
        expected = np.mean([hk for hk, k in zip(h, kept) if k], axis=0)
        np.testing.assert_allclose(boost.decision_function(X_gap), expected)
    staged = list(boost.staged_decision_function(X_test))
    np.testing.assert_allclose(staged[-1], boost.decision_function(X_test))
    with pytest.raises(ValueError, match="algorithm"):
        clone(boost).set_params(algorithm="real").fit(X_train, y_train)
