"""Aligners (skmm.alignment): numerical CCA, retrieval quality on data where the
answer is known, round trips, missing modalities and bad input.

Data:

* *split digits*: scikit-learn's bundled 8x8 digits (offline), the top half of
  each image as one modality and the bottom half as the other -- the classic
  two-view setup of deep CCA; both halves carry the digit, so retrieval matched
  by label is meaningful (chance = 0.1).
* *rings*: a shared class seen linearly by one modality (noisy blobs) and
  non-linearly by the other (the radius of a ring with a random angle, so the
  class-conditional mean of that modality is 0 and linear CCA finds nothing).

The built-in ``make_multimodal_digits`` gives each modality an independent clue
(magnitude, parity, pitch band): no cross-modal retrieval by digit can beat
about 1.33x chance there, so it is used for the raw Pipeline mechanics only.
"""

import os

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.cross_decomposition import CCA
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmm.alignment import (
    AdversarialAligner,
    CCAAligner,
    ContrastiveAligner,
    CycleAligner,
    retrieve,
)
from skmm.alignment._base import embed_blocks
from skmm.alignment._cca import gcca
from skmm.exceptions import InvalidSampleError, LayoutError
from skmm.metrics import make_retrieval_scorer, recall_at_k
from skmm.metrics._retrieval import cosine_similarity_rows

NET = {"hidden_size": 32, "max_epochs": 20, "lr": 3e-3, "random_state": 0}
TRAINABLE = [
    ContrastiveAligner(16, **NET),
    AdversarialAligner(16, **NET),
    CycleAligner(16, **NET),
]


def split_digits(n_train=600, n_test=300, random_state=0):
    digits = load_digits()
    n = len(digits.target)
    top = digits.images[:, :4].reshape(n, -1)
    bottom = digits.images[:, 4:].reshape(n, -1)
    X = pd.DataFrame(
        np.hstack([top, bottom]),
        columns=[f"top__p{i}" for i in range(32)]
        + [f"bottom__p{i}" for i in range(32)],
    )
    return train_test_split(
        X,
        digits.target,
        train_size=n_train,
        test_size=n_test,
        random_state=random_state,
        stratify=digits.target,
    )


def rings(n=600, n_classes=6, width=10, random_state=0):
    rng = np.random.RandomState(random_state)
    y = rng.randint(n_classes, size=n)
    centers = rng.randn(n_classes, 2) * 1.5
    a = centers[y] + rng.randn(n, 2)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = 1.0 + y + 0.1 * rng.randn(n)
    b = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    A = a @ rng.randn(2, width) + 0.3 * rng.randn(n, width)
    B = b @ rng.randn(2, width) + 0.3 * rng.randn(n, width)
    columns = [f"a__{i}" for i in range(width)] + [f"b__{i}" for i in range(width)]
    return pd.DataFrame(np.hstack([A, B]), columns=columns), y


def label_recall(aligner, X, y, query="top", candidate="bottom", k=1):
    blocks = embed_blocks(aligner, X)
    S = cosine_similarity_rows(blocks[query], blocks[candidate])
    return recall_at_k(S, k, query_labels=y, candidate_labels=y)


# ---- CCA ------------------------------------------------------------------


def _two_blocks(n=200, random_state=0):
    rng = np.random.RandomState(random_state)
    z = rng.randn(n, 3)
    A = z @ rng.randn(3, 6) + rng.randn(n, 6)
    B = z @ rng.randn(3, 5) + rng.randn(n, 5)
    X = pd.DataFrame(
        np.hstack([A, B]),
        columns=[f"a__{i}" for i in range(6)] + [f"b__{i}" for i in range(5)],
    )
    return X, A, B


def test_cca_reproduces_sklearn_canonical_correlations():
    X, A, B = _two_blocks()
    aligner = CCAAligner(n_components=3).fit(X)
    cca = CCA(n_components=3).fit(A, B)
    xs, ys = cca.transform(A, B)
    expected = [np.corrcoef(xs[:, k], ys[:, k])[0, 1] for k in range(3)]
    np.testing.assert_allclose(aligner.canonical_correlations_, expected, rtol=1e-6)
    Z = aligner.transform(X)
    np.testing.assert_allclose(Z[:, :3], xs, atol=1e-8)
    np.testing.assert_allclose(Z[:, 3:], ys, atol=1e-8)
    # the closed-form (generalized) solver agrees with sklearn's NIPALS
    std = [(M - M.mean(0)) / M.std(0, ddof=1) for M in (A, B)]
    weights, eigenvalues = gcca(std, 3, [0.0, 0.0])
    np.testing.assert_allclose(eigenvalues - 1, expected, rtol=1e-4)
    a, b = (M @ W for M, W in zip(std, weights))
    got = [np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(3)]
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_cca_multiset_and_regularised_wide_blocks():
    X, _, _ = _two_blocks()
    rng = np.random.RandomState(1)
    X["c__0"] = X["a__0"] + rng.randn(len(X))
    X["c__1"] = X["b__1"] + rng.randn(len(X))
    aligner = CCAAligner(n_components=2).fit(X)
    assert aligner.canonical_correlations_ is None
    assert aligner.transform(X).shape == (len(X), 6)
    assert aligner.eigenvalues_[0] > 1.5  # the three blocks share components
    # wide blocks: more columns than samples
    wide = pd.DataFrame(
        rng.randn(30, 80),
        columns=[f"a__{i}" for i in range(40)] + [f"b__{i}" for i in range(40)],
    )
    with pytest.warns(UserWarning, match="regularization='auto'"):
        CCAAligner(n_components=2).fit(wide)
    reg = CCAAligner(n_components=2, regularization="auto").fit(wide)
    assert 0 < reg.shrinkage_["a"] <= 1
    assert np.isfinite(reg.transform(wide)).all()
    # shrinkage towards the identity: no spurious perfect correlation
    assert reg.canonical_correlations_[0] < 0.999


# ---- retrieval quality ----------------------------------------------------


@pytest.mark.parametrize("aligner", TRAINABLE, ids=lambda a: type(a).__name__)
def test_trainable_aligner_retrieval_on_held_out_digits(aligner):
    Xtr, Xte, _, yte = split_digits()
    aligner = clone(aligner).fit(Xtr)
    chance = 0.1
    assert label_recall(aligner, Xte, yte) >= 3 * chance
    assert label_recall(aligner, Xte, yte, "bottom", "top") >= 3 * chance


def test_contrastive_beats_cca_on_a_nonlinear_relation():
    X, y = rings(800)
    Xtr, Xte, _, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    cca = CCAAligner(n_components=2).fit(Xtr)
    con = ContrastiveAligner(8, **{**NET, "max_epochs": 40}).fit(Xtr)
    r_cca = label_recall(cca, Xte, yte, "a", "b")
    r_con = label_recall(con, Xte, yte, "a", "b")
    assert r_con > r_cca + 0.15, (r_con, r_cca)


def test_semi_supervised_alignment_beats_unaligned_features():
    X, y = rings(900, random_state=1)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=300, random_state=0)
    labelled = np.random.RandomState(0).choice(len(Xtr), 48, replace=False)  # 8%
    aligner = ContrastiveAligner(8, **{**NET, "max_epochs": 40}).fit(Xtr)  # no y

    def clf():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))

    raw = clf().fit(Xtr.iloc[labelled], ytr[labelled]).score(Xte, yte)
    Z = aligner.transform(Xtr)
    aligned = clf().fit(Z[labelled], ytr[labelled]).score(aligner.transform(Xte), yte)
    assert aligned > raw + 0.1, (aligned, raw)


def test_cycle_imputation_beats_masking_for_a_model_trained_on_complete_data():
    Xtr, Xte, ytr, yte = split_digits()
    cycle = CycleAligner(16, **NET).fit(Xtr)
    clf = LogisticRegression(max_iter=2000).fit(cycle.transform(Xtr), ytr)
    X_missing = Xte.copy()
    half = np.arange(len(Xte)) % 2 == 0
    bottom = [c for c in Xte.columns if c.startswith("bottom")]
    X_missing.loc[X_missing.index[half], bottom] = np.nan
    masked = np.nan_to_num(cycle.transform(X_missing), nan=0.0)
    # impute is read at transform time: no refit needed
    score = cycle.score(X_missing)
    filled = cycle.set_params(impute=True).transform(X_missing)
    assert cycle.score(X_missing) == score  # imputed embeddings are not scored
    assert not np.isnan(filled).any()
    assert clf.score(filled, yte) > clf.score(masked, yte)


# ---- missing modalities, round trips, determinism -------------------------


@pytest.mark.parametrize(
    "aligner", [CCAAligner(4), *TRAINABLE], ids=lambda a: type(a).__name__
)
def test_missing_rows_round_trips_and_determinism(aligner):
    Xtr, Xte, _, _ = split_digits(300, 60)
    Xtr = Xtr.copy()
    Xtr.iloc[:40, :32] = np.nan  # 40 samples without their top half
    Xtr.iloc[40:60, 32:] = np.nan
    aligner = clone(aligner).set_params(
        **({"max_epochs": 3} if "max_epochs" in aligner.get_params() else {})
    )
    fitted = clone(aligner).fit(Xtr)
    Z = fitted.transform(Xtr)
    assert np.isnan(Z[:40, : fitted.n_components_]).all()
    assert not np.isnan(Z[:40, fitted.n_components_ :]).any()
    assert not np.isnan(Z[60:]).any()
    ref = fitted.transform(Xte)
    # seeded refit, clone, joblib
    np.testing.assert_array_equal(clone(aligner).fit(Xtr).transform(Xte), ref)
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "skmm-aligner.joblib")
    joblib.dump(fitted, path)
    np.testing.assert_array_equal(joblib.load(path).transform(Xte), ref)
    # pandas output names
    out = clone(aligner).set_output(transform="pandas").fit(Xtr).transform(Xte)
    assert list(out.columns[:2]) == ["top__0", "top__1"]


def test_grid_search_tunes_an_aligner_without_labels():
    Xtr, _, _, _ = split_digits(300, 60)
    search = GridSearchCV(CCAAligner(), {"n_components": [1, 4]}, cv=3).fit(Xtr)
    assert search.best_params_ == {"n_components": 4}
    scorer = make_retrieval_scorer("recall_at_k", k=5)
    search = GridSearchCV(
        ContrastiveAligner(8, **{**NET, "max_epochs": 2}),
        {"temperature": [0.05, 0.1]},
        scoring=scorer,
        cv=2,
    ).fit(Xtr)
    assert 0 <= search.best_score_ <= 1


# ---- retrieval API --------------------------------------------------------


def test_retrieve_returns_ranked_candidates_and_skips_missing_ones():
    Xtr, Xte, _, _ = split_digits(300, 60)
    aligner = CCAAligner(8).fit(Xtr)
    candidates = Xte.copy()
    candidates.iloc[:5, 32:] = np.nan  # no bottom half: never retrieved
    idx, sim = aligner.retrieve(
        Xte.iloc[:10],
        candidates,
        query_modality="top",
        candidate_modality="bottom",
        k=7,
    )
    assert idx.shape == sim.shape == (10, 7)
    assert (idx >= 5).all()
    assert (np.diff(sim, axis=1) <= 1e-12).all()
    queries = Xte.iloc[:3].copy()
    queries.iloc[1, :32] = np.nan
    with pytest.raises(InvalidSampleError, match=r"sample 1.*'top' is missing"):
        aligner.retrieve(queries, query_modality="top", candidate_modality="bottom")
    with pytest.raises(LayoutError, match="Unknown modality 'audio'"):
        aligner.retrieve(Xte, query_modality="audio", candidate_modality="bottom")


def test_retrieve_with_raw_tables_through_a_pipeline():
    from skmm.compose import MultimodalEncoder
    from skmm.datasets import make_multimodal_digits
    from skmm.encoders import MFCCEncoder, PixelEncoder

    X, _ = make_multimodal_digits(n_samples=60, random_state=0)
    pipe = make_pipeline(
        MultimodalEncoder(
            [
                ("image", PixelEncoder(size=(8, 8), mode="L"), "image"),
                ("audio", MFCCEncoder(sr=8000, n_mfcc=8), "audio"),
            ]
        ),
        CCAAligner(n_components=2, regularization="auto"),
    ).fit(X)
    # query with raw images only: the other cells of the query table are None
    queries = pd.DataFrame(
        {"text": [None] * 3, "image": list(X["image"][:3]), "audio": [None] * 3}
    )
    idx, sim = retrieve(
        pipe, queries, X, query_modality="image", candidate_modality="audio", k=4
    )
    assert idx.shape == (3, 4) and np.isfinite(sim).all()
    with pytest.raises(InvalidSampleError, match="'audio' is missing"):
        retrieve(pipe, queries, X, query_modality="audio", candidate_modality="image")


# ---- bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    "aligner", [CCAAligner(2), *TRAINABLE], ids=lambda a: type(a).__name__
)
def test_bad_input_gets_a_clear_error(aligner):
    X, _ = rings(40)
    with pytest.raises(LayoutError, match=r"two or more modalities.*one block"):
        clone(aligner).fit(X.iloc[:, :10].rename(columns=lambda c: c[3:]))
    unpaired = X.copy()
    unpaired.iloc[:20, :10] = np.nan
    unpaired.iloc[20:, 10:] = np.nan
    with pytest.raises(ValueError, match="No sample has two modalities present"):
        clone(aligner).fit(unpaired)
    with pytest.raises(LayoutError, match="no modality"):
        clone(aligner).set_params(modalities={"a": [0, 1]}).fit(X)
    fitted = (
        clone(aligner)
        .set_params(
            **({"max_epochs": 1} if "max_epochs" in aligner.get_params() else {})
        )
        .fit(X)
    )
    with pytest.raises(ValueError, match="feature"):
        fitted.transform(X.iloc[:, :12])
    partial = X.copy()
    partial.iloc[3, 2] = np.nan
    with pytest.raises(InvalidSampleError, match="sample 3"):
        fitted.transform(partial)


# ---- alignment inside fusion training ---------------------------------------


@pytest.mark.parametrize("alignment", ["contrastive", "cycle", "adversarial"])
def test_fusion_with_an_alignment_objective(alignment):
    from skmm.fusion import FusionClassifier

    Xtr, Xte, ytr, _ = split_digits(200, 40)
    Xtr = Xtr.copy()
    Xtr.iloc[:30, 32:] = np.nan  # the objective masks absent modalities
    clf = FusionClassifier(
        "attention",
        alignment=alignment,
        alignment_weight=0.5,
        hidden_size=16,
        max_epochs=3,
        random_state=0,
    ).fit(Xtr, ytr)
    module = clf.net_.module_
    assert module.alignment is not None
    assert np.isfinite(clf.history_[:, "train_loss"]).all()
    # the aux loss is a training-time term only
    proba = clf.predict_proba(Xte)
    assert module.aux_loss is None
    assert clf.explain_fusion(Xte)["attention"].shape == (len(Xte), 2, 2)
    again = clone(clf).fit(Xtr, ytr)
    np.testing.assert_array_equal(again.predict_proba(Xte), proba)
    # a different weight trains a different model
    other = clone(clf).set_params(alignment_weight=0.0).fit(Xtr, ytr)
    assert not np.allclose(other.predict_proba(Xte), proba)
    with pytest.raises(ValueError, match="alignment"):
        clone(clf).set_params(alignment="bogus").fit(Xtr, ytr)


def test_fusion_regressor_with_an_alignment_objective():
    from skmm.fusion import FusionRegressor

    Xtr, Xte, ytr, _ = split_digits(150, 20)
    reg = FusionRegressor(
        alignment="cycle", hidden_size=16, max_epochs=2, random_state=0
    ).fit(Xtr, ytr.astype(float))
    assert reg.net_.module_.alignment is not None
    assert np.isfinite(reg.predict(Xte)).all()


# ---- fine-grained alignment -------------------------------------------------


def test_dtw_path_recovers_a_time_warp():
    from skmm.alignment import align_steps

    t = np.linspace(0, 1, 40)
    a = np.c_[np.sin(6 * t), np.cos(6 * t)]
    warped = t**1.5  # b is a with a slow start
    b = np.c_[np.sin(6 * warped), np.cos(6 * warped)]
    path, cost = align_steps(a, b, metric="euclidean")
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [39, 39]
    assert (np.diff(path, axis=0) >= 0).all()
    # step j of b matches step ~ 40 * (j/40)**1.5 of a
    expected = np.round(39 * (path[:, 1] / 39) ** 1.5)
    assert np.abs(path[:, 0] - expected).mean() < 1.5
    assert cost < 0.05
    with pytest.raises(ValueError, match="same number of features"):
        align_steps(a, b[:, :1])
    with pytest.raises(InvalidSampleError, match="NaN"):
        align_steps(np.full((3, 2), np.nan), b)


def test_contrastive_anchor_with_three_semi_paired_modalities():
    rng = np.random.RandomState(0)
    n = 400
    y = rng.randint(5, size=n)
    centers = rng.randn(3, 5, 4) * 2
    blocks = [centers[m][y] + 0.5 * rng.randn(n, 4) for m in range(3)]
    X = pd.DataFrame(
        np.hstack(blocks), columns=[f"{m}__{i}" for m in "abc" for i in range(4)]
    )
    # c is never seen together with b; a third of the rows lack a
    X.iloc[: n // 3, :4] = np.nan
    X.iloc[n // 3 :, 8:] = np.nan
    X.iloc[: n // 3, 8:] = blocks[2][: n // 3]
    X.iloc[: n // 3, 4:8] = np.nan
    X.iloc[: n // 6, :4] = blocks[0][: n // 6]
    aligner = ContrastiveAligner(8, anchor="a", **NET).fit(X)
    module = aligner.net_.module_
    assert module.objective.pairs == [(0, 1), (0, 2)]
    # b and c were aligned only through the anchor, yet match each other
    full = pd.DataFrame(
        np.hstack(blocks), columns=X.columns
    )  # every modality present at test time
    assert label_recall(aligner, full, y, "b", "c") > 0.6
    with pytest.raises(ValueError, match="anchor='d' is not a modality"):
        clone(aligner).set_params(anchor="d").fit(X)


def test_step_level_cross_attention_map():
    from skmm.alignment import align_steps, cross_attention_map
    from skmm.fusion import FusionClassifier
    from skmm.utils import grid_feature_names

    rng = np.random.RandomState(0)
    n, T = 60, 5
    frames = rng.randn(n, T * 3)
    X = pd.DataFrame(
        np.hstack([frames, rng.randn(n, 4)]),
        columns=[f"audio__{c}" for c in grid_feature_names("f", (T, 3))]
        + [f"text__{i}" for i in range(4)],
    )
    y = (frames[:, 0] > 0).astype(int)
    clf = FusionClassifier(
        "attention",
        branches={"audio": "gru"},
        hidden_size=8,
        n_heads=2,
        max_epochs=2,
        random_state=0,
    ).fit(X, y)
    maps = cross_attention_map(
        clf, X.iloc[:4], query_modality="audio", key_modality="text"
    )
    assert maps.shape == (4, T, 1)
    back = cross_attention_map(
        clf, X.iloc[:4], query_modality="text", key_modality="audio"
    )
    assert back.shape == (4, 1, T)
    # consistent with the modality-level map of explain_fusion
    coarse = clf.explain_fusion(X.iloc[:4])["attention"]
    np.testing.assert_allclose(back.sum(axis=2)[:, 0], coarse[:, 1, 0], atol=1e-5)
    path, weight = align_steps(None, method="attention", attention=back[0])
    assert path.shape == (1, 2) and 0 <= weight[0] <= 1
    with pytest.raises(ValueError, match="fusion='attention'"):
        cross_attention_map(
            FusionClassifier("late", max_epochs=1).fit(X, y),
            X,
            query_modality="audio",
            key_modality="text",
        )
