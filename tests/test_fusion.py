"""Multimodal behaviour of skmm.fusion (sklearn's own checks run in test_common)."""

import io
import itertools
import pickle
import warnings
from unittest.mock import patch

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback
from skorch.exceptions import DeviceWarning

from skmm.datasets import make_multimodal_classification
from skmm.exceptions import InvalidSampleError, LayoutError
from skmm.fusion import FusionClassifier, FusionRegressor
from skmm.utils import grid_feature_names

FUSIONS = [
    "early",
    "late",
    "tensor",
    "low_rank_tensor",
    "bilinear",
    "gated",
    "attention",
]
MODALITIES = ["text", "image", "audio"]
FAST = {"hidden_size": 16, "max_epochs": 20, "random_state": 0}


def _split(X, y, n_train):
    return X.iloc[:n_train], y[:n_train], X.iloc[n_train:], y[n_train:]


def _columns(X, modality):
    return [c for c in X.columns if c.startswith(modality + "__")]


def _best_unimodal(Xtr, ytr, Xte, yte, modalities=MODALITIES, **params):
    """Best test accuracy of a model that sees one modality (LR or fusion net)."""
    scores = {}
    for m in modalities:
        cols = _columns(Xtr, m)
        lr = make_pipeline(StandardScaler(), LogisticRegression())
        net = FusionClassifier(**{**FAST, **params})
        scores[m] = max(
            lr.fit(Xtr[cols], ytr).score(Xte[cols], yte),
            net.fit(Xtr[cols], ytr).score(Xte[cols], yte),
        )
    return scores


@pytest.fixture(scope="module")
def additive():
    X, y = make_multimodal_classification(n_samples=2300, random_state=1)
    return _split(X, y, 300)


@pytest.fixture(scope="module")
def small():
    X, y = make_multimodal_classification(n_samples=120, random_state=0)
    return X, y


# --------------------------------------------------------------------------
# learning
# --------------------------------------------------------------------------


def test_every_fusion_beats_best_unimodal(additive):
    Xtr, ytr, Xte, yte = additive
    best = max(_best_unimodal(Xtr, ytr, Xte, yte).values())
    scores = {
        f: FusionClassifier(f, **FAST).fit(Xtr, ytr).score(Xte, yte) for f in FUSIONS
    }
    losers = {f: s for f, s in scores.items() if s < best + 0.03}
    assert not losers, f"best unimodal {best:.3f}; fusion scores {scores}"


def test_multiplicative_fusions_beat_early_on_interactions():
    # The label depends only on products of pairs of modalities' latents: the
    # multiplicative fusions learn it from less data than concatenation + MLP.
    # Averaged over three data sets (one seed can go either way by chance).
    params = {"hidden_size": 32, "max_epochs": 30, "random_state": 0}
    fusions = ["early", "tensor", "bilinear", "gated", "attention"]
    scores = {f: [] for f in fusions}
    for seed in range(3):
        X, y = make_multimodal_classification(
            n_samples=2300, interaction=True, random_state=seed
        )
        Xtr, ytr, Xte, yte = _split(X, y, 300)
        for f in fusions:
            clf = FusionClassifier(f, **params).fit(Xtr, ytr)
            scores[f].append(clf.score(Xte, yte))
    mean = {f: np.mean(s) for f, s in scores.items()}
    for f in fusions[1:]:
        assert mean[f] > mean["early"] + 0.02, mean


def test_regressor_learns_interaction_target():
    X, _ = make_multimodal_classification(n_samples=1300, random_state=0)
    y = X["text__f0"].to_numpy() * X["image__f0"].to_numpy() + X["audio__f1"].to_numpy()
    Xtr, ytr, Xte, yte = _split(X, y, 500)
    reg = FusionRegressor("tensor", hidden_size=16, max_epochs=40, random_state=0)
    assert r2_score(yte, reg.fit(Xtr, ytr).predict(Xte)) > 0.6
    Y = np.column_stack([y, -2 * y + 3])
    Ytr = Y[:500]
    pred = FusionRegressor(**FAST).fit(Xtr, Ytr).predict(Xte)
    assert pred.shape == (800, 2) and pred.dtype == np.float64
    assert r2_score(Y[500:, 1], pred[:, 1]) > 0.3


# --------------------------------------------------------------------------
# branches
# --------------------------------------------------------------------------


def _digits_frame(shape=(1, 8, 8)):
    digits = load_digits()
    keep = digits.target < 5
    pixels = digits.data[keep] / 16.0
    y = digits.target[keep]
    names = ["image__" + n for n in grid_feature_names("pixel", shape)]
    return pd.DataFrame(pixels, columns=names), y


def test_cnn_branch_on_pixel_grid():
    X, y = _digits_frame()
    Xtr, ytr, Xte, yte = _split(X, y, 500)
    clf = FusionClassifier(
        branches="cnn", hidden_size=16, max_epochs=12, lr=3e-3, random_state=0
    ).fit(Xtr, ytr)
    assert clf.block_shapes_ == {"image": (1, 8, 8)}
    assert type(clf.net_.module_.branches[0]).__name__ == "CNNBranch"
    assert clf.score(Xte, yte) > 0.85  # logistic regression: 0.93

    # a declared shape overrides the names; a (H, W) grid is one channel
    X2 = X.set_axis([f"image__p{j}" for j in range(64)], axis=1)
    clf2 = FusionClassifier(
        branches={"image": "cnn"}, block_shapes={"image": (8, 8)}, **FAST
    ).fit(X2.iloc[:100], y[:100])
    assert clf2.block_shapes_ == {"image": (8, 8)}


def _token_frame(n=400, length=12, random_state=0):
    """Right-padded token ids; the label says whether id 7 occurs."""
    rng = np.random.RandomState(random_state)
    ids = rng.randint(2, 30, size=(n, length)).astype(float)
    ids[ids == 7] = 8
    y = rng.randint(2, size=n)
    for i in range(n):
        ids[i, rng.randint(3, length + 1) :] = 0
        if y[i]:
            ids[i, rng.randint(0, 3)] = 7
    names = ["text__" + n for n in grid_feature_names("token", (length,))]
    return pd.DataFrame(ids, columns=names), y


def _frame_frame(n=400, frames=10, mels=4, random_state=0):
    """Spectrogram-like frames; the label says whether the energy rises."""
    rng = np.random.RandomState(random_state)
    y = rng.randint(2, size=n)
    slope = np.where(y, 1.0, -1.0)[:, None, None] * rng.uniform(0.5, 1.5, (n, 1, 1))
    t = np.linspace(-1, 1, frames)[None, :, None]
    values = slope * t + rng.normal(scale=0.5, size=(n, frames, mels))
    names = ["audio__" + n for n in grid_feature_names("logmel", (frames, mels))]
    return pd.DataFrame(values.reshape(n, -1), columns=names), y


@pytest.mark.parametrize("branch", ["lstm", "gru", "transformer"])
def test_sequence_branches_on_tokens_and_frames(branch):
    params = {
        "branches": branch,
        "hidden_size": 16,
        "max_epochs": 15,
        "lr": 3e-3,
        "random_state": 0,
    }
    X, y = _token_frame()
    Xtr, ytr, Xte, yte = _split(X, y, 300)
    clf = FusionClassifier(**params).fit(Xtr, ytr)
    assert clf.block_shapes_ == {"text": (12,)}
    assert clf._blocks[0].kind == "tokens"
    assert clf._blocks[0].vocab_size == int(Xtr.to_numpy().max()) + 1
    assert clf.score(Xte, yte) > 0.85
    # ids never seen in training map to the unknown id instead of failing
    unseen = Xte.copy()
    unseen.iloc[:, 5] = np.where(unseen.iloc[:, 5] > 0, 1000, 0)
    assert np.isfinite(clf.predict_proba(unseen)).all()

    X, y = _frame_frame()
    Xtr, ytr, Xte, yte = _split(X, y, 300)
    clf = FusionClassifier(**params).fit(Xtr, ytr)
    assert clf.block_shapes_ == {"audio": (10, 4)}
    assert clf._blocks[0].kind == "float"
    assert clf.score(Xte, yte) > 0.85


def test_mixed_branches_and_attention_over_sequences():
    Xt, y = _token_frame(n=300)
    Xa, _ = _frame_frame(n=300, random_state=1)
    X = pd.concat([Xt, Xa], axis=1)
    clf = FusionClassifier(
        "attention",
        branches={"text": "gru"},
        block_shapes={"audio": (10, 4)},
        **FAST,
    ).fit(X, y)
    assert clf.branches_ == {"text": "gru", "audio": "mlp"}
    attention = clf.explain_fusion(X.iloc[:5])["attention"]
    assert attention.shape == (5, 2, 2)
    assert clf.score(X, y) > 0.8


class TinyBranch(torch.nn.Module):
    """User branch following the documented interface."""

    def __init__(self, input_size, input_shape, hidden_size, dropout=0.0):
        super().__init__()
        self.linear = torch.nn.Linear(input_size, 8)
        self.output_size = 8

    def forward(self, x):
        return torch.relu(self.linear(x))


class SumFusion(torch.nn.Module):
    """User fusion: mean of the present modalities' projections."""

    def __init__(self, input_sizes, hidden_size):
        super().__init__()
        self.projections = torch.nn.ModuleList(
            [torch.nn.Linear(d, hidden_size) for d in input_sizes.values()]
        )

    def forward(self, embeddings, present):
        z = torch.stack(
            [p(e) for p, e in zip(self.projections, embeddings.values())], dim=1
        )
        weight = present.float() / present.sum(1, keepdim=True)
        return (weight.unsqueeze(-1) * z).sum(1), {"weight": weight}


def test_user_branch_and_fusion_classes(small):
    X, y = small
    clf = FusionClassifier(SumFusion, branches={"text": TinyBranch}, **FAST).fit(X, y)
    assert isinstance(clf.net_.module_.fusion, SumFusion)
    assert isinstance(clf.net_.module_.branches[0], TinyBranch)
    assert clf.explain_fusion(X.iloc[:4])["weight"].shape == (4, 3)
    assert clf.score(X, y) > 0.7
    # and it can be searched over like the built-in names
    pickle.loads(pickle.dumps(clf)).predict(X)


# --------------------------------------------------------------------------
# missing modalities
# --------------------------------------------------------------------------


def _drop(X, modality, rows):
    X = X.copy()
    X.loc[X.index[rows], _columns(X, modality)] = np.nan
    return X


@pytest.mark.parametrize("fusion", FUSIONS)
def test_missing_modalities_are_masked(fusion):
    X, y = make_multimodal_classification(
        n_samples=360, missing_rate=0.3, random_state=0
    )
    Xtr, ytr, Xte, _ = _split(X, y, 240)
    clf = FusionClassifier(fusion, **FAST).fit(Xtr, ytr)
    # no NaN reached the gradients
    for p in clf.net_.module_.parameters():
        assert torch.isfinite(p).all()
    # predict from every subset of modalities
    for k in range(1, 4):
        for kept in itertools.combinations(MODALITIES, k):
            Xs = Xte.copy()
            for m in set(MODALITIES) - set(kept):
                Xs = _drop(Xs, m, slice(None))
            Xs = Xs[Xs.notna().any(axis=1)]  # samples with a kept modality
            proba = clf.predict_proba(Xs)
            assert np.isfinite(proba).all()
            np.testing.assert_allclose(proba.sum(axis=1), 1.0)

    # absence is not the same as a zero-filled block
    full = Xte.dropna()
    Xnan = _drop(full, "image", slice(None))
    Xzero = Xnan.fillna(0.0)
    assert not np.allclose(clf.predict_proba(Xnan), clf.predict_proba(Xzero))


def test_explain_fusion_reports_masking():
    X, y = make_multimodal_classification(n_samples=200, random_state=0)
    Xm = _drop(X, "audio", slice(0, 100))
    absent = np.arange(200) < 100
    for fusion, key in [("late", "weights"), ("gated", "gates")]:
        clf = FusionClassifier(fusion, **FAST).fit(Xm, y)
        info = clf.explain_fusion(Xm)
        assert info[key].shape == (200, 3)
        np.testing.assert_allclose(info[key].sum(axis=1), 1.0, rtol=1e-5)
        assert np.all(info[key][absent, 2] == 0) and np.all(info[key][~absent, 2] > 0)
        np.testing.assert_array_equal(info["present"][:, 2], ~absent)
    clf = FusionClassifier("attention", **FAST).fit(Xm, y)
    attention = clf.explain_fusion(Xm)["attention"]
    assert attention.shape == (200, 3, 3)
    # nobody attends to the absent audio, nor to itself
    assert np.all(attention[absent][:, :, 2] == 0)
    assert np.allclose(np.diagonal(attention, axis1=1, axis2=2), 0)
    assert np.all(attention[~absent][:, 0, 2] > 0)


def test_modality_dropout_with_half_missing_test_set():
    X, y = make_multimodal_classification(n_samples=2300, random_state=2)
    Xtr, ytr, Xte, yte = _split(X, y, 300)
    unimodal = _best_unimodal(Xtr, ytr, Xte, yte)
    half = np.arange(len(yte)) % 2 == 0
    for fusion in ["early", "late", "gated"]:
        clf = FusionClassifier(fusion, modality_dropout=0.3, **FAST).fit(Xtr, ytr)
        for m in MODALITIES:
            score = clf.score(_drop(Xte, m, half), yte)
            remaining = max(s for k, s in unimodal.items() if k != m)
            assert score >= remaining, (fusion, m, score, unimodal)


# --------------------------------------------------------------------------
# sample weights
# --------------------------------------------------------------------------


def test_integer_weights_equal_repeated_rows_in_the_loss(small):
    X, y = small
    clf = FusionClassifier("gated", **FAST).fit(X, y)
    w = np.random.RandomState(0).randint(0, 4, size=len(y))
    weighted = clf._inputs(X)
    weighted["sample_weight"] = torch.as_tensor(w, dtype=torch.float32)
    repeated = clf._inputs(X.iloc[np.repeat(np.arange(len(y)), w)])
    net = clf.net_
    module = net.module_.eval()
    with torch.no_grad():
        loss_w = net.get_loss(module(**weighted), torch.as_tensor(y), X=weighted)
        y_rep = torch.as_tensor(np.repeat(y, w))
        loss_r = net.get_loss(module(**repeated), y_rep, X=repeated)
    assert float(loss_w) == pytest.approx(float(loss_r), rel=1e-5)


@pytest.mark.parametrize("Estimator", [FusionClassifier, FusionRegressor])
def test_weights_act_like_repeated_and_removed_rows(Estimator, small):
    X, y = small
    w = np.random.RandomState(1).randint(0, 4, size=len(y))
    params = {**FAST, "batch_size": 1000, "dropout": 0.0, "fusion": "tensor"}
    weighted = Estimator(**params).fit(X, y, sample_weight=w)
    idx = np.repeat(np.arange(len(y)), w)
    repeated = Estimator(**params).fit(X.iloc[idx], y[idx])
    method = "predict_proba" if Estimator is FusionClassifier else "predict"
    np.testing.assert_allclose(
        getattr(weighted, method)(X), getattr(repeated, method)(X), atol=1e-4
    )


def test_sample_weight_in_ensembles(small):
    X, y = small
    base = FusionClassifier(**{**FAST, "lr": 1e-2})
    ada = AdaBoostClassifier(base, n_estimators=3, random_state=0).fit(X, y)
    assert ada.score(X, y) > 0.7
    bag = BaggingClassifier(base, n_estimators=3, random_state=0).fit(X, y)
    probas = [est.predict_proba(X.to_numpy()) for est in bag.estimators_]
    assert not np.allclose(probas[0], probas[1])
    assert not np.allclose(probas[1], probas[2])
    assert bag.score(X, y) > 0.7


def test_sample_weight_validation(small):
    X, y = small
    clf = FusionClassifier(**FAST)
    with pytest.raises(ValueError, match="non-zero"):
        clf.fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="Negative"):
        clf.fit(X, y, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="shape"):
        clf.fit(X, y, sample_weight=np.ones(3))


# --------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels", [np.array(["no", "yes"]), np.array([3, 9]), np.array(["b", "a"])]
)
def test_any_labels(labels, small):
    X, y = small
    yl = labels[y]
    clf = FusionClassifier(**FAST).fit(X, yl)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    pred = clf.predict(X)
    assert set(pred) <= set(labels)
    assert accuracy_score(yl, pred) > 0.7
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], pred)


def test_three_non_contiguous_classes_and_unseen_class():
    X, y = make_multimodal_classification(n_samples=240, n_classes=3, random_state=0)
    yl = np.array([3, 7, 9])[y]
    clf = FusionClassifier(**FAST).fit(X, yl)
    np.testing.assert_array_equal(clf.classes_, [3, 7, 9])
    assert clf.predict_proba(X).shape == (240, 3)

    # a training set without class 7, with the full label set declared
    keep = yl != 7
    clf = FusionClassifier(classes=[9, 7, 3], **FAST).fit(X[keep], yl[keep])
    np.testing.assert_array_equal(clf.classes_, [3, 7, 9])
    proba = clf.predict_proba(X)
    assert proba.shape == (240, 3)
    np.testing.assert_array_equal(proba[:, 1], 0.0)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    assert 7 not in clf.predict(X)

    # a class with zero total weight is never predicted either
    w = (yl != 9).astype(float)
    clf = FusionClassifier(**FAST).fit(X, yl, sample_weight=w)
    assert np.all(clf.predict_proba(X)[:, 2] == 0)

    with pytest.raises(ValueError, match="not in classes"):
        FusionClassifier(classes=[3, 7], **FAST).fit(X, yl)


# --------------------------------------------------------------------------
# sklearn integration, reproducibility, persistence
# --------------------------------------------------------------------------


def test_grid_search_over_fusion_in_pipeline():
    X, y = make_multimodal_classification(n_samples=160, random_state=0)
    layout = {m: slice(16 * k, 16 * (k + 1)) for k, m in enumerate(MODALITIES)}
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "clf",
                FusionClassifier(
                    modalities=layout, max_epochs=10, lr=1e-2, random_state=0
                ),
            ),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"clf__fusion": ["early", "gated"], "clf__hidden_size": [8, 16]},
        cv=2,
        n_jobs=2,
    ).fit(X.to_numpy(), y)
    assert len(search.cv_results_["params"]) == 4
    assert set(search.best_estimator_[-1].modalities_) == set(MODALITIES)
    assert search.score(X.to_numpy(), y) > 0.75


def test_same_random_state_same_predictions(small):
    X, y = small
    params = {**FAST, "fusion": "attention", "modality_dropout": 0.2}
    a = FusionClassifier(**params).fit(X, y).predict_proba(X)
    b = FusionClassifier(**params).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = FusionClassifier(**{**params, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.allclose(a, c)
    # fitting does not disturb the caller's global torch random state
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    FusionClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_pickle_and_joblib_round_trip(tmp_path):
    X, y = make_multimodal_classification(
        n_samples=150, missing_rate=0.2, random_state=0
    )
    clf = FusionClassifier("gated", **FAST).fit(X, y)
    expected = clf.predict_proba(X)
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(clf)).predict_proba(X), expected
    )
    joblib.dump(clf, tmp_path / "clf.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "clf.joblib").predict_proba(X), expected
    )
    clone(clf).fit(X, y)  # a clone is unfitted and fits from its parameters


def test_model_trained_on_cuda_unpickles_on_cpu_only_machine(small):
    # Simulation (as skorch's tests do when no GPU is present): the net's tensors
    # are pickled with CUDA storage locations, the estimator says device="cuda",
    # and torch.cuda.is_available() is False when loading.
    X, y = small
    clf = FusionClassifier("attention", **FAST).fit(X, y)
    expected = clf.predict_proba(X)
    clf.device = "cuda"
    clf.net_.device = "cuda"
    real_tag = torch.serialization.location_tag

    def cuda_tag(storage):
        return "cuda:0" if real_tag(storage) == "cpu" else real_tag(storage)

    with patch("torch.serialization.location_tag", cuda_tag):
        blob = pickle.dumps(clf)
        # the simulation is effective: a CUDA-tagged tensor cannot load as is
        buffer = io.BytesIO()
        torch.save(torch.ones(1), buffer)
    with patch("torch.cuda.is_available", lambda: False):
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(buffer.getvalue()))
        with (
            pytest.warns(DeviceWarning),
            pytest.warns(UserWarning, match="loaded with device='cpu'"),
        ):
            loaded = pickle.loads(blob)
        assert torch.device(loaded.net_.device).type == "cpu"
        assert next(loaded.net_.module_.parameters()).device.type == "cpu"
        np.testing.assert_allclose(loaded.predict_proba(X), expected)
        # the estimator follows: it refits on this CPU-only machine
        assert loaded.device == "cpu"
        loaded.fit(X, y)


class EpochCounter(Callback):
    def initialize(self):
        self.epochs_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1


def test_history_callbacks_and_early_stopping(small):
    X, y = small
    counter = EpochCounter()
    clf = FusionClassifier(callbacks=[counter], **{**FAST, "max_epochs": 4}).fit(X, y)
    assert len(clf.history_) == 4
    assert dict(clf.net_.callbacks_)["EpochCounter"].epochs_ == 4
    assert not hasattr(counter, "epochs_")  # the parameter is copied, not used
    clf = FusionClassifier(
        early_stopping=True,
        n_iter_no_change=2,
        validation_fraction=0.25,
        **{**FAST, "max_epochs": 200, "lr": 0.05},
    ).fit(X, y)
    assert "valid_loss" in clf.history_[-1]
    assert len(clf.history_) < 200


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_partial_nan_block_is_an_error(small):
    X, y = small
    bad = X.copy()
    bad.iloc[5, 0] = np.nan
    with pytest.raises(InvalidSampleError, match=r"sample 5.*'text'"):
        FusionClassifier(**FAST).fit(bad, y)
    clf = FusionClassifier(**FAST).fit(X, y)
    with pytest.raises(InvalidSampleError, match="sample 5"):
        clf.predict(bad)


def test_all_missing_sample_is_an_error(small):
    X, y = small
    bad = X.copy()
    bad.iloc[7] = np.nan
    with pytest.raises(InvalidSampleError, match=r"sample 7.*all 3 modalities"):
        FusionClassifier(**FAST).fit(bad, y)
    clf = FusionClassifier(**FAST).fit(X, y)
    with pytest.raises(InvalidSampleError, match="sample 7"):
        clf.predict_proba(bad)


def test_layout_and_parameter_errors(small):
    X, y = small
    with pytest.raises(LayoutError, match=r"'image'.*16 columns"):
        FusionClassifier(block_shapes={"image": (3, 3)}, **FAST).fit(X, y)
    with pytest.raises(LayoutError, match=r"unknown modalities.*'video'"):
        FusionClassifier(block_shapes={"video": (4, 4)}, **FAST).fit(X, y)
    with pytest.raises(LayoutError, match="'image' has no grid shape"):
        FusionClassifier(branches={"image": "cnn"}, **FAST).fit(X, y)
    with pytest.raises(LayoutError, match="'text' has no sequence shape"):
        FusionClassifier(branches="lstm", **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"'fusion' parameter.*Got 'concat'"):
        FusionClassifier("concat", **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"Unknown branch 'resnet'.*'audio'"):
        FusionClassifier(branches={"audio": "resnet"}, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="divisible"):
        FusionClassifier("attention", **{**FAST, "n_heads": 3}).fit(X, y)
    clf = FusionClassifier(**FAST).fit(X.to_numpy(), y)
    with pytest.raises(ValueError, match=r"X has 40 features, but .* expecting 48"):
        clf.predict(X.to_numpy()[:, :40])

    Xt, yt = _token_frame(n=60)
    bad = Xt.copy()
    bad.iloc[4, 2] = 2.5
    with pytest.raises(InvalidSampleError, match=r"sample 4.*token ids"):
        FusionClassifier(branches="gru", **FAST).fit(bad, yt)


def test_plain_numeric_matrix_is_one_block():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(80, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = FusionClassifier("bilinear", **FAST).fit(X, y)
    assert list(clf.modalities_) == ["features"]
    assert clf.score(X, y) > 0.8


class _InterruptAt(Callback):
    """Simulates Ctrl-C inside the training loop, at a given batch."""

    def __init__(self, batch=3):
        self.batch = batch

    def initialize(self):
        self.seen_ = 0
        return self

    def on_batch_end(self, net, **kwargs):
        self.seen_ += 1
        if self.seen_ == self.batch:
            raise KeyboardInterrupt


def _fitted_state(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_")}


def test_interrupted_fit_raises_and_keeps_previous_state(small):
    X, y = small
    clf = FusionClassifier(callbacks=[_InterruptAt(3)], **FAST)
    with pytest.raises(KeyboardInterrupt, match="interrupted"):
        clf.fit(X, y)
    assert not _fitted_state(clf)  # still unfitted

    clf = FusionClassifier(**{**FAST, "max_epochs": 3}).fit(X, y)
    before = clf.predict_proba(X)
    net = clf.net_
    y_other = np.where(y == y[0], "a", "b")  # new labels: classes_ must not change
    clf.set_params(callbacks=[_InterruptAt(2)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y_other)
    assert clf.net_ is net
    assert list(clf.classes_) == sorted(set(y))
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_failure_in_network_construction_keeps_previous_state(small):
    X, y = small
    clf = FusionClassifier(**{**FAST, "max_epochs": 2}).fit(X, y)
    before = _fitted_state(clf)

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    with patch("skmm.fusion._network.FusionNetwork.__init__", broken):
        with pytest.raises(KeyboardInterrupt):
            clf.fit(X.iloc[:, :30], y)
    after = _fitted_state(clf)
    assert after.keys() == before.keys()
    assert all(after[k] is before[k] for k in before)
    assert clf.n_features_in_ == X.shape[1]


def test_early_stopping_is_not_an_interrupt(small):
    X, y = small
    clf = FusionClassifier(
        early_stopping=True, n_iter_no_change=2, **{**FAST, "max_epochs": 200}
    ).fit(X, y)
    assert len(clf.history_) < 200


def test_single_class_y_is_an_error(small):
    X, y = small
    with pytest.raises(ValueError, match="at least 2 classes"):
        FusionClassifier(**FAST).fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        FusionClassifier(classes=[0, 1, 2], **FAST).fit(X, np.ones(len(y)))
