"""Ensembles of networks predicting in parallel: same outputs for any n_jobs."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skmm.datasets import make_multimodal_classification
from skmm.ensemble import (
    EnsembleSelectionClassifier,
    ModalityBaggingClassifier,
    ModalityBaggingRegressor,
    SnapshotEnsembleClassifier,
)
from skmm.ensemble._common import sum_member_outputs
from skmm.fusion import FusionClassifier, FusionRegressor
from skmm.utils._torch import torch_threads

NET = {"hidden_size": 8, "max_epochs": 3, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    X, y = make_multimodal_classification(n_samples=160, random_state=0)
    X = X.copy()
    X.iloc[::5, X.columns.str.startswith("audio__")] = np.nan
    return X, y


def _predict_both(est, X, method="predict_proba"):
    """Outputs with n_jobs=1 and 2 of one fitted ensemble; torch threads kept."""
    with torch_threads(2):
        outputs = []
        for n_jobs in (1, 2):
            est.set_params(n_jobs=n_jobs)
            outputs.append(getattr(est, method)(X))
            assert torch.get_num_threads() == 2
    return outputs


def test_bagging_of_networks_predicts_the_same_with_two_jobs(data):
    X, y = data
    bag = ModalityBaggingClassifier(
        FusionClassifier(**NET),
        n_estimators=4,
        max_modalities=2,
        vote="available",
        random_state=0,
    ).fit(X, y)
    one, two = _predict_both(bag, X)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one.sum(axis=1), 1.0)
    # the sum over members equals the members' own average
    expected = np.zeros_like(one)
    votes = np.zeros(len(X))
    for est, features in zip(bag.estimators_, bag.estimators_features_):
        expected += est.predict_proba(X.iloc[:, features])
        votes += 1
    np.testing.assert_allclose(one, expected / votes[:, None], rtol=1e-12)

    reg = ModalityBaggingRegressor(
        FusionRegressor(**NET), n_estimators=3, random_state=0
    ).fit(X, y.astype(float))
    one, two = _predict_both(reg, X, "predict")
    np.testing.assert_array_equal(one, two)


def test_selection_of_networks_predicts_the_same_with_two_jobs(data):
    X, y = data
    sel = EnsembleSelectionClassifier(
        [
            ("early", FusionClassifier("early", **NET)),
            ("late", FusionClassifier("late", **NET)),
            ("gated", FusionClassifier("gated", **NET)),
        ],
        ensemble_size=4,
        cv=2,
        random_state=0,
    ).fit(X, y)
    one, two = _predict_both(sel, X)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(sel.predict(X), sel.classes_[one.argmax(axis=1)])


def test_snapshots_share_one_validation(data):
    X, y = data
    snap = SnapshotEnsembleClassifier(
        FusionClassifier(**{**NET, "max_epochs": 1}),
        n_snapshots=3,
        cycle_epochs=2,
        random_state=0,
    ).fit(X, y)
    members = np.mean([m.predict_proba(X) for m in snap.estimators_], axis=0)
    np.testing.assert_allclose(snap.predict_proba(X), members, rtol=1e-12)
    bad = X.copy()
    bad.iloc[2, 3] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        snap.predict_proba(bad)
    bad = X.copy()
    bad.iloc[4] = np.nan
    with pytest.raises(ValueError, match=r"sample 4"):
        snap.predict(bad)


def test_sum_member_outputs_sums_in_order_and_skips_none():
    def out(k):
        return None if k == 2 else np.full(3, 0.1) * 10.0**-k

    one = sum_member_outputs(out, range(6), n_jobs=1)
    two = sum_member_outputs(out, range(6), n_jobs=2)
    np.testing.assert_array_equal(one, two)
    assert sum_member_outputs(lambda k: None, range(3), n_jobs=2) is None


def test_n_jobs_clone_and_parallel_members_stay_independent(data):
    # members run concurrently in threads: each keeps its own state
    X, y = data
    bag = ModalityBaggingClassifier(
        FusionClassifier(**NET), n_estimators=3, random_state=0, n_jobs=2
    ).fit(X, y)
    first = bag.predict_proba(X)
    again = clone(bag).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, again)


def test_stacking_members_predict_in_parallel_with_the_same_outputs(data):
    from sklearn.linear_model import LogisticRegression, Ridge

    from skmm.ensemble import ModalityStackingClassifier, ModalityStackingRegressor

    X, y = data
    stack = ModalityStackingClassifier(
        experts={"text": LogisticRegression(), "image": FusionClassifier(**NET)},
        estimators=[("net", FusionClassifier(**NET)), ("off", "drop")],
        cv=3,
    ).fit(X, y)
    for method in ("transform", "predict_proba", "predict"):
        one, two = _predict_both(stack, X, method)
        np.testing.assert_array_equal(one, two)
    # the parallel path gives what scikit-learn's own _transform gives
    stack.set_params(n_jobs=2)
    np.testing.assert_array_equal(
        stack.transform(X), stack._transform(stack._check_transform_input(X))
    )
    reg = ModalityStackingRegressor(
        experts={"text": Ridge(), "audio": FusionRegressor(**NET)}, cv=3
    ).fit(X, y.astype(float))
    one, two = _predict_both(reg, X, "predict")
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("algorithm", ["SAMME", "SAMME.R"])
def test_boosting_members_predict_in_parallel_with_the_same_outputs(data, algorithm):
    from sklearn.linear_model import LogisticRegression

    from skmm.ensemble import MultimodalAdaBoostClassifier

    X, y = data
    boost = MultimodalAdaBoostClassifier(
        experts={"text": LogisticRegression(), "image": FusionClassifier(**NET)},
        n_estimators=4,
        algorithm=algorithm,
        random_state=0,
    ).fit(X, y)
    for method in ("decision_function", "predict_proba", "predict"):
        one, two = _predict_both(boost, X, method)
        np.testing.assert_array_equal(one, two)
    # the staged decisions (one job) end where decision_function does
    boost.set_params(n_jobs=2)
    *_, last = boost.staged_decision_function(X)
    np.testing.assert_array_equal(last, boost.decision_function(X))


def test_iter_member_outputs_keeps_member_order():
    import time

    from skmm.ensemble._common import iter_member_outputs

    def slow_first(k):
        time.sleep(0.05 if k == 0 else 0.0)
        return k

    assert list(iter_member_outputs(slow_first, range(5), n_jobs=2)) == list(range(5))
    assert list(iter_member_outputs(slow_first, [], n_jobs=2)) == []
