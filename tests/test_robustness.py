"""Tests of skmm.robustness: corruptions, robustness curves, modality importance."""

import functools
import pickle

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone

from skmm.exceptions import InvalidSampleError
from skmm.robustness import (
    CORRUPTIONS,
    Corruption,
    ModalityCorruptor,
    corrupt_column,
    corrupt_modalities,
    drop_modalities,
    misalign_modalities,
)
from skmm.utils.estimator_checks import check_raw_estimator, make_raw_column

SR = 8000


def _column(modality, n=6):
    cells, _ = make_raw_column(modality, n, sr=SR)
    if modality == "text":
        cells = [c + " And The Number Was Big" for c in cells]
    return cells


def _by_modality(modality):
    return [c for c, m in CORRUPTIONS.items() if m == modality]


ALL = [(c, m) for c, m in CORRUPTIONS.items() if m != "any"] + [
    (c, m) for c in ("missing", "misalign") for m in ("text", "image", "audio")
]


#: corruptions that draw no random numbers
DETERMINISTIC = {"blur", "jpeg", "contrast", "clipping", "band_limit"}


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str):
        return a == b
    return np.array_equal(np.asarray(a), np.asarray(b))


# ------------------------------------------------------------------------------
# corruptions: identity, seeding, contract
# ------------------------------------------------------------------------------
@pytest.mark.parametrize("corruption, modality", ALL)
def test_severity_zero_is_identity_and_seeded(corruption, modality):
    cells = [*_column(modality), None]
    kw = {"sr": SR} if modality == "audio" else {}
    same = corrupt_column(cells, corruption, 0.0, random_state=0, **kw)
    assert all(a is b for a, b in zip(same, cells))

    first = corrupt_column(cells, corruption, 0.7, random_state=0, **kw)
    second = corrupt_column(cells, corruption, 0.7, random_state=0, **kw)
    other = corrupt_column(cells, corruption, 0.7, random_state=1, **kw)
    assert len(first) == len(cells)
    assert all(_same(a, b) for a, b in zip(first, second))
    if corruption not in DETERMINISTIC:
        assert not all(_same(a, b) for a, b in zip(first, other))
    assert not all(_same(a, b) for a, b in zip(first, cells))
    assert first[-1] is None  # missing stays missing


@pytest.mark.parametrize("modality", ["text", "image", "audio"])
def test_cell_corruption_depends_on_the_sample_only(modality):
    cells = _column(modality)
    kw = {"sr": SR} if modality == "audio" else {}
    for corruption in _by_modality(modality):
        if corruption == "mix":
            continue
        full = corrupt_column(cells, corruption, 0.5, random_state=3, **kw)
        gappy = corrupt_column(
            [None, *cells[1:3], None, *cells[4:]], corruption, 0.5, random_state=3, **kw
        )
        for i in (1, 2, 4, 5):
            assert _same(full[i], gappy[i]), corruption


@pytest.mark.parametrize("modality", ["text", "image", "audio"])
def test_bad_cells_raise_the_encoders_error(modality, tmp_path):
    cells = _column(modality, 3)
    bad = {"text": 3, "image": str(tmp_path / "nope.png"), "audio": "nope.wav"}
    cells[1] = bad[modality]
    corruption = _by_modality(modality)[0]
    kw = {"sr": SR} if modality == "audio" else {}
    with pytest.raises(InvalidSampleError, match="sample 1") as exc:
        corrupt_column(cells, corruption, 0.5, random_state=0, **kw)
    assert exc.value.index == 1
    table = pd.DataFrame({modality: pd.Series(cells, dtype=object)})
    with pytest.raises(InvalidSampleError, match=f"column '{modality}', sample 1"):
        corrupt_modalities(table, {modality: (corruption, 0.5)}, **kw)
    # an empty text is refused as by the text encoders
    if modality == "text":
        with pytest.raises(InvalidSampleError, match="empty"):
            corrupt_column(["ok", "  "], "typos", 0.5)


def test_parameter_errors():
    with pytest.raises(ValueError, match=r"Unknown corruption 'fog'.*image: "):
        corrupt_column(["a"], "fog")
    with pytest.raises(ValueError, match="severity must be a number in"):
        corrupt_column(["a"], "typos", 1.5)
    with pytest.raises(ValueError, match="needs the sample rate"):
        corrupt_column([np.ones(10, dtype=np.float32)], "white_noise")
    with pytest.raises(ValueError, match="string object received"):
        corrupt_column("a text", "typos")
    with pytest.raises(ValueError, match="Unknown modality 'video'"):
        corrupt_modalities({"text": ["a"]}, {"video": "missing"})
    with pytest.raises(ValueError, match="needs raw cells"):
        corrupt_modalities(np.ones((3, 2)), {"features": "blur"})


# ------------------------------------------------------------------------------
# severity scales
# ------------------------------------------------------------------------------
def _snr(clean, noisy):
    clean = clean.astype(np.float64)
    return 10 * np.log10(np.mean(clean**2) / np.mean((noisy - clean) ** 2))


@pytest.mark.parametrize("corruption", ["white_noise", "pink_noise", "mix"])
@pytest.mark.parametrize("severity", [0.1, 0.4, 0.6, 1.0])
def test_measured_snr_matches_the_requested_one(corruption, severity):
    clips = _column("audio", 4)
    out = corrupt_column(clips, corruption, severity, sr=SR, random_state=0)
    expected = 30 - 50 * severity
    for clean, noisy in zip(clips, out):
        assert noisy.dtype == np.float32 and noisy.shape == clean.shape
        assert abs(_snr(clean, noisy) - expected) < 0.5


def test_audio_scales():
    clip = _column("audio", 1)[0]
    # band_limit removes energy above the cut-off, nyquist / 16**s
    out = corrupt_column([clip], "band_limit", 0.5, sr=SR, random_state=0)[0]
    spec = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(out.size, 1 / SR)
    assert spec[freqs > 1.2 * SR / 2 / 4].max() < 1e-2 * spec.max()
    # time_mask zeroes half the clip at full severity
    masked = corrupt_column([clip], "time_mask", 1.0, sr=SR, random_state=0)[0]
    assert abs(np.mean(masked == 0) - 0.5) < 0.01
    # clipping keeps the peak
    clipped = corrupt_column([clip], "clipping", 1.0, sr=SR, random_state=0)[0]
    assert np.isclose(np.abs(clipped).max(), np.abs(clip).max())
    assert np.mean(np.abs(clipped) >= 0.999 * np.abs(clip).max()) > 0.3
    # a (waveform, rate) tuple and a path are decoded at sr
    resampled = corrupt_column([(clip, SR // 2)], "clipping", 0.5, sr=SR)[0]
    assert resampled.shape == (2 * clip.size,)


@pytest.mark.parametrize("corruption", _by_modality("image"))
def test_image_distortion_grows_with_severity(corruption):
    images = _column("image", 4)
    distances = []
    for severity in (0.25, 0.5, 1.0):
        out = corrupt_column(images, corruption, severity, random_state=0)
        distances.append(
            np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(images, out)])
        )
    assert distances[0] > 0
    assert distances[-1] > distances[0]


def test_image_cells_keep_their_type(tmp_path):
    rgb = _column("image", 1)[0]
    grey = rgb[:, :, 0]
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path)
    cells = [rgb, grey, grey[:, :, None], rgb / 255.0, Image.fromarray(grey), path]
    out = corrupt_column(cells, "blur", 0.5, random_state=0)
    assert out[0].shape == rgb.shape and out[0].dtype == np.uint8
    assert out[1].shape == grey.shape
    assert out[2].shape == (*grey.shape, 1)
    assert out[3].dtype == np.float64 and 0 <= out[3].min() and out[3].max() <= 1
    assert isinstance(out[4], Image.Image) and out[4].mode == "L"
    assert out[5].shape == rgb.shape and out[5].dtype == np.uint8
    # rotation is a measurable angle: 30 * s degrees
    rot = corrupt_column([rgb], "rotation", 0.5, random_state=0)[0]
    expected = [
        np.asarray(Image.fromarray(rgb).rotate(a, resample=Image.Resampling.BILINEAR))
        for a in (15, -15)
    ]
    inner = (slice(5, 11), slice(5, 11))
    assert any(np.abs(rot[inner].astype(int) - e[inner]).max() <= 1 for e in expected)


def test_text_scales():
    text = "the quick brown fox jumps over the lazy dog " * 20
    typo = corrupt_column([text], "typos", 1.0, random_state=0)[0]
    letters = [(a, b) for a, b in zip(text, typo) if a.isalpha()]
    rate = np.mean([a != b for a, b in letters])
    assert 0.25 < rate < 0.35
    dropped = corrupt_column([text], "word_dropout", 0.5, random_state=0)[0]
    assert 0.5 < len(dropped.split()) / len(text.split()) < 0.7
    assert corrupt_column(["one"], "word_dropout", 1.0)[0] == "one"
    swapped = corrupt_column([text], "word_swap", 1.0, random_state=0)[0]
    assert sorted(swapped.split()) == sorted(text.split())
    cased = corrupt_column(["abc def"], "casing", 1.0, random_state=0)[0]
    assert cased.lower() == "abc def"


# ------------------------------------------------------------------------------
# tables and encoded matrices
# ------------------------------------------------------------------------------
def _table(n=10):
    return pd.DataFrame(
        {
            "text": pd.Series(_column("text", n), dtype=object),
            "audio": pd.Series(_column("audio", n), dtype=object),
            "id": np.arange(n),
        }
    )


def test_drop_and_misalign_raw_tables():
    X = _table()
    X.loc[0, "text"] = None
    out = drop_modalities(X, {"text": 0.5}, random_state=0)
    assert out["text"].isna().sum() == 1 + round(0.5 * 9)
    assert X["text"].isna().sum() == 1  # input untouched
    assert out["audio"].tolist() is not None
    assert all(a is b for a, b in zip(out["audio"], X["audio"]))

    swapped = misalign_modalities(X, {"text": 1.0}, random_state=0)
    assert swapped["text"].isna().sum() == 1
    moved = [i for i in range(1, 10) if swapped["text"][i] != X["text"][i]]
    assert len(moved) == 9
    assert sorted(swapped["text"][1:]) == sorted(X["text"][1:])
    # seeded, and columns draw independent streams
    again = misalign_modalities(X, {"text": 1.0}, random_state=0)
    assert swapped["text"].tolist() == again["text"].tolist()
    both = drop_modalities(X, {"text": 0.5, "audio": 0.5}, random_state=0)
    assert not np.array_equal(both["text"].isna(), both["audio"].isna())
    # a dict table and an explicit layout
    grouped = drop_modalities(
        {"a": [1, 2, 3, 4], "b": [5, 6, 7, 8]},
        {"ab": 0.5},
        modalities={"ab": ["a", "b"]},
        random_state=0,
    )
    assert grouped["a"].isna().tolist() == grouped["b"].isna().tolist()


def test_encoded_matrices():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5)).astype(np.float32)
    names = ["text__a", "text__b", "audio__a", "audio__b", "audio__c"]
    frame = pd.DataFrame(X, columns=names)
    out = drop_modalities(frame, {"audio": 0.25}, random_state=0)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == names
    gone = out.iloc[:, 2:].isna().all(axis=1)
    assert gone.sum() == 5 and not out.iloc[:, :2].isna().any().any()
    swapped = misalign_modalities(
        X, {"b": 1.0}, modalities={"a": [0, 1], "b": [2, 3, 4]}
    )
    assert swapped.dtype == np.float32
    np.testing.assert_array_equal(swapped[:, :2], X[:, :2])
    assert sorted(map(tuple, swapped[:, 2:])) == sorted(map(tuple, X[:, 2:]))
    assert not (swapped[:, 2:] == X[:, 2:]).all(axis=1).any()


def test_transformers_in_a_pipeline():
    from sklearn.pipeline import make_pipeline

    from skmm.compose import MultimodalEncoder
    from skmm.encoders import MFCCEncoder

    X = _table(8)
    noisy = ModalityCorruptor("audio", "white_noise", 1.0, sr=SR, random_state=0)
    encoder = MultimodalEncoder([("audio", MFCCEncoder(sr=SR, n_mfcc=8), "audio")])
    clean = clone(encoder).fit_transform(X)
    pipe = make_pipeline(noisy, encoder)
    assert not np.allclose(pipe.fit_transform(X), clean)
    assert noisy.transform(X)["text"].tolist() == X["text"].tolist()
    # Corruption in front of an encoder, inside the MultimodalEncoder
    inner = MultimodalEncoder(
        [
            (
                "audio",
                make_pipeline(
                    Corruption("white_noise", 1.0, sr=SR, random_state=0),
                    MFCCEncoder(sr=SR, n_mfcc=8),
                ),
                "audio",
            )
        ]
    )
    assert not np.allclose(inner.fit_transform(X), clean)
    # pickles, clones, validates its parameters
    restored = pickle.loads(pickle.dumps(noisy))
    assert (
        restored.transform(X)["audio"][0].tolist()
        == noisy.transform(X)["audio"][0].tolist()
    )
    with pytest.raises(ValueError, match="severity"):
        ModalityCorruptor("audio", severity=2.0).fit(X)
    with pytest.raises(ValueError, match="corruption"):
        Corruption("fog").transform(["a"])


def test_corruption_transformers_pass_the_raw_checks():
    check_raw_estimator(Corruption("blur", 0.5, random_state=0), _column("image"))
    check_raw_estimator(
        Corruption("white_noise", 0.5, sr=SR, random_state=0), _column("audio")
    )
    X = _table(6)[["audio", "id"]]
    y = np.arange(6) % 2
    check_raw_estimator(
        ModalityCorruptor("audio", "pink_noise", 0.5, sr=SR, random_state=0), X, y
    )


# ------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------
def _threshold_classifier():
    """Predicts 1 where the first feature is > 0.5 (NaN counts as 0)."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Threshold(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X):
            return (np.nan_to_num(np.asarray(X, dtype=float)[:, 0]) > 0.5).astype(int)

    return Threshold().fit(None, None)


def test_robustness_curve_matches_hand_computed_values():
    from skmm.robustness import (
        effective_robustness,
        relative_robustness,
        robustness_curve,
        robustness_summary,
    )

    X, y = np.ones((10, 2)), np.ones(10, dtype=int)
    clf = _threshold_classifier()
    corruption = ModalityCorruptor("a", "missing", modalities={"a": [0], "b": [1]})
    results = robustness_curve(
        clf, X, y, corruption, [0.0, 0.3, 0.5, 1.0], n_repeats=2, random_state=0
    )
    assert list(results.columns) == ["corruption", "severity", "repeat", "score"]
    assert results["corruption"].unique().tolist() == ["a: missing"]
    # round(s * 10) samples lose block "a" and are predicted 0
    np.testing.assert_allclose(results["score"], np.repeat([1.0, 0.7, 0.5, 0.0], 2))
    # area: 0.3 * 1.7 / 2 + 0.2 * 1.2 / 2 + 0.5 * 0.5 / 2
    assert relative_robustness([0, 0.3, 0.5, 1], [1, 0.7, 0.5, 0]) == pytest.approx(0.5)
    # a callable corruption and a dict of corruptions; scoring by name
    halve = lambda X, severity, seed: X * (1 - severity)  # noqa: E731
    both = robustness_curve(
        clf,
        X,
        y,
        {"missing": corruption, "halve": halve},
        [0.0, 0.6],
        scoring="accuracy",
        n_repeats=1,
    )
    assert both.groupby("corruption", sort=False)["score"].apply(list).to_dict() == {
        "missing": [1.0, 0.4],
        "halve": [1.0, 0.0],
    }
    # effective robustness: f - (ref + f0 - ref0), integrated
    assert effective_robustness([0, 1], [0.8, 0.6], [0.9, 0.5]) == pytest.approx(0.1)
    both["estimator"] = "m"
    ref = both.assign(estimator="ref", score=both["score"] * 0.5)
    summary = robustness_summary(pd.concat([both, ref]), reference="ref")
    row = summary.set_index(["estimator", "corruption"]).loc[("m", "missing")]
    assert row["clean_score"] == 1.0 and row["worst_score"] == 0.4
    # (0 + (0.4 - (0.2 + 0.5))) * 0.6 / 2
    assert row["effective_robustness"] == pytest.approx(-0.09)
    with pytest.raises(ValueError, match="severities"):
        robustness_curve(clf, X, y, corruption, [0.0, 2.0])
    with pytest.raises(TypeError, match="corruption must be"):
        robustness_curve(clf, X, y, "noise", [0.5])


@functools.cache
def _raw_pipeline_data(n=120):
    """A fitted text + audio pipeline (only the text is informative), test data.

    Cached: the tests only read the fitted pipeline and the data.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skmm.compose import MultimodalEncoder
    from skmm.encoders import MFCCEncoder

    texts, y = make_raw_column("text", n, random_state=0)
    clips, _ = make_raw_column("audio", 2 * n, sr=SR, random_state=1)
    clips = clips[::2]  # distinct clips, all of class 0: uninformative
    X = pd.DataFrame(
        {
            "text": pd.Series(texts, dtype=object),
            "audio": pd.Series(clips, dtype=object),
        }
    )
    pipe = make_pipeline(
        MultimodalEncoder(
            [
                ("text", TfidfVectorizer(), "text"),
                ("audio", MFCCEncoder(sr=SR, n_mfcc=8, n_mels=16), "audio"),
            ]
        ),
        SimpleImputer(keep_empty_features=True),
        LogisticRegression(),
    )
    half = n // 2  # fit on the first half, evaluate on the second
    pipe.fit(X.iloc[:half], y[:half])
    return pipe, X.iloc[half:].reset_index(drop=True), y[half:]


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_modality_importance_finds_the_informative_modality():
    from sklearn.linear_model import LogisticRegression

    from skmm.robustness import modality_importance

    pipe, X, y = _raw_pipeline_data()
    for method in ("drop", "permute"):
        result = modality_importance(
            pipe, X, y, method=method, n_repeats=2, random_state=0
        )
        assert result.modalities.tolist() == ["text", "audio"]
        assert result.importances.shape == (2, 2)
        assert result.importances_mean[0] > 0.3
        assert abs(result.importances_mean[1]) < 0.1
        assert result.baseline_score == pytest.approx(pipe.score(X, y))
    again = modality_importance(
        pipe, X, y, method="permute", n_repeats=2, random_state=0
    )
    assert np.array_equal(again.importances, result.importances)

    # encoded matrices: blocks from feature-name prefixes
    rng = np.random.default_rng(0)
    M = rng.normal(size=(200, 6))
    y = (M[:, 3] + 0.1 * M[:, 0] > 0).astype(int)
    names = [f"{m}__{i}" for m in ("text", "image", "audio") for i in range(2)]
    frame = pd.DataFrame(M, columns=names)
    clf = LogisticRegression().fit(frame, y)
    result = modality_importance(clf, frame, y, method="permute", random_state=0)
    assert result.modalities.tolist() == ["text", "image", "audio"]
    assert np.argmax(result.importances_mean) == 1
    # a plain array resolved with the estimator's feature_names_in_
    clf_np = LogisticRegression().fit(frame, y)
    result = modality_importance(clf_np, M, y, method="permute", random_state=0)
    assert np.argsort(result.importances_mean).tolist()[-1] == 1
    # drop on a NaN-aware model
    from sklearn.ensemble import HistGradientBoostingClassifier

    hgb = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(frame, y)
    result = modality_importance(hgb, frame, y, method="drop")
    assert np.argmax(result.importances_mean) == 1
    assert np.ptp(result.importances, axis=1).max() == 0  # deterministic
    with pytest.raises(ValueError, match="method"):
        modality_importance(clf, frame, y, method="zero")


def test_robustness_curve_on_a_raw_pipeline_is_seeded():
    from skmm.robustness import robustness_curve

    pipe, X, y = _raw_pipeline_data()
    noise = ModalityCorruptor("text", "word_dropout", sr=SR)
    first = robustness_curve(pipe, X, y, noise, [0, 1], n_repeats=2, random_state=0)
    second = robustness_curve(pipe, X, y, noise, [0, 1], n_repeats=2, random_state=0)
    pd.testing.assert_frame_equal(first, second)
    assert first["score"].iloc[0] > first["score"].iloc[-1]


def test_displays(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.dummy import DummyClassifier

    from skmm.robustness import (
        ModalityImportanceDisplay,
        RobustnessDisplay,
        plot_robustness_comparison,
    )

    pipe, X, y = _raw_pipeline_data()
    dummy = DummyClassifier().fit(X, y)
    noise = ModalityCorruptor("text", "typos")
    display = RobustnessDisplay.from_estimator(
        {"pipe": pipe, "dummy": dummy}, X, y, noise, [0, 0.5, 1], n_repeats=2
    )
    assert set(display.lines_) == {("pipe", "text: typos"), ("dummy", "text: typos")}
    assert len(display.ax_.get_lines()) == 2
    # a second call draws on the same axes
    RobustnessDisplay.from_estimator(
        pipe, X, y, noise, [0, 1], n_repeats=1, name="again", ax=display.ax_
    )
    assert len(display.ax_.get_lines()) == 3
    bars = ModalityImportanceDisplay.from_estimator(pipe, X, y, method="drop")
    assert [t.get_text() for t in bars.ax_.get_yticklabels()] == ["audio", "text"]
    _, results = plot_robustness_comparison(
        {"pipe": pipe, "dummy": dummy},
        X,
        y,
        {"text typos": noise},
        severities=[0, 1],
        path=tmp_path / "fig.png",
    )
    assert (tmp_path / "fig.png").stat().st_size > 0
    assert set(results["corruption"]) == {
        "text typos",
        "none",
        "text missing",
        "audio missing",
    }


# ------------------------------------------------------------------------------
# noise-robust training options of the fusion networks
# ------------------------------------------------------------------------------
def _grid_data(n=80, seed=0):
    """A 1x6x5 grid block (bright band = class) and a small noise block."""
    from skmm.utils import grid_feature_names

    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    grid = rng.normal(0, 1, size=(n, 6, 5))
    grid[y == 1, 2:4, :] += 2.0
    names = [f"spec__{c}" for c in grid_feature_names("mel", (6, 5))]
    names += ["other__a", "other__b"]
    X = np.hstack([grid.reshape(n, -1), rng.normal(size=(n, 2))])
    return pd.DataFrame(X.astype(np.float32), columns=names), y


def test_fusion_noise_options_train_only_and_learn():
    import torch

    from skmm.fusion import FusionClassifier

    X, y = _grid_data(60)
    fitted = {}
    for options in (
        {"feature_noise": 0.5},
        {"spec_augment": 0.3},
        {"per_sample_norm": True},
        {"cnn_norm": "group"},
        {"cnn_norm": "batch"},
    ):
        clf = FusionClassifier(
            "late",
            branches={"spec": "cnn"},
            hidden_size=8,
            max_epochs=8,
            batch_size=40,
            lr=2e-2,
            random_state=0,
            **options,
        ).fit(X, y)
        assert clf.score(X, y) > 0.8, options
        # prediction is deterministic: the noise and masks are training-only
        np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))
        assert not clf.net_.module_.training
        fitted[next(iter(options.items()))] = clf
    # in training mode the noise and the masks are drawn
    for key in (("feature_noise", 0.5), ("spec_augment", 0.3)):
        clf = fitted[key]
        module = clf.net_.module_
        module.train()
        inputs = dict(clf._inputs(X).items())
        with torch.no_grad():
            a, b = module(**inputs), module(**inputs)
        module.eval()
        assert not torch.equal(a, b), key
        with torch.no_grad():
            assert torch.equal(module(**inputs), module(**inputs))


def test_spec_augment_masks_one_band_per_axis():
    import torch

    from skmm.fusion._network import _mask_grid

    torch.manual_seed(0)
    x = torch.ones(500, 1 * 20 * 10)
    out = _mask_grid(x, (1, 20, 10), 0.5).reshape(500, 20, 10)
    rows_masked = (out == 0).all(dim=2).sum(dim=1).float()
    cols_masked = (out == 0).all(dim=1).sum(dim=1).float()
    assert rows_masked.max() <= 10 and cols_masked.max() <= 5
    assert 3 < rows_masked.mean() < 7  # uniform width in [0, 10]
    assert torch.all(out[out != 0] == 1)


def test_per_sample_norm_ignores_gain_and_level_of_a_grid():
    from skmm.fusion import FusionClassifier

    X, y = _grid_data()
    clf = FusionClassifier(
        "early",
        branches={"spec": "cnn"},
        per_sample_norm=True,
        hidden_size=8,
        max_epochs=2,
        random_state=0,
    ).fit(X, y)
    louder = X.copy()
    grid = [c for c in X.columns if c.startswith("spec__")]
    louder[grid] = 3.0 * louder[grid] + 5.0
    np.testing.assert_allclose(
        clf.predict_proba(louder), clf.predict_proba(X), rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match="feature_noise"):
        FusionClassifier(feature_noise=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="cnn_norm"):
        FusionClassifier(cnn_norm="layer").fit(X, y)


def test_fused_model_with_a_missing_modality_matches_ignoring_it():
    """Small version of benchmarks/robustness_digits.py (missing modality)."""
    from sklearn.linear_model import LogisticRegression

    from skmm.datasets import make_multimodal_classification
    from skmm.fusion import FusionClassifier

    X, y = make_multimodal_classification(n_samples=500, random_state=0)
    X_train, y_train, X_test, y_test = X[:300], y[:300], X[300:], y[300:]
    fused = FusionClassifier(
        "late",
        hidden_size=16,
        modality_dropout=0.3,
        max_epochs=20,
        lr=1e-2,
        random_state=0,
    ).fit(X_train, y_train)
    for m in ("text", "image", "audio"):
        keep = [c for c in X.columns if not c.startswith(f"{m}__")]
        without = LogisticRegression().fit(X_train[keep], y_train)
        best = without.score(X_test[keep], y_test)
        gappy = drop_modalities(X_test, {m: 1.0})
        assert fused.score(gappy, y_test) >= best - 0.03, m
