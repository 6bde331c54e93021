"""Tests of skmm.datasets.make_multimodal_digits."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmm.datasets import make_multimodal_digits
from skmm.utils import missing_mask

COLUMNS = ["text", "image", "audio"]


def _assert_same_cells(X1, X2):
    assert list(X1.columns) == list(X2.columns)
    assert len(X1) == len(X2)
    for column in X1.columns:
        for a, b in zip(X1[column], X2[column]):
            if a is None or b is None:
                assert a is None and b is None
            elif isinstance(a, np.ndarray):
                assert a.dtype == b.dtype and a.shape == b.shape
                assert a.tobytes() == b.tobytes()
            else:
                assert a == b


# ---------------------------------------------------------------------------
# layout, dtypes, content
# ---------------------------------------------------------------------------
def test_shapes_dtypes_and_columns():
    X, y = make_multimodal_digits(n_samples=25, random_state=0)
    assert isinstance(X, pd.DataFrame)
    assert list(X.columns) == COLUMNS
    assert all(X[c].dtype == object for c in COLUMNS)
    assert X.index.equals(pd.RangeIndex(25))
    assert isinstance(y, np.ndarray) and y.dtype == np.int64 and y.shape == (25,)
    # each block of ten consecutive samples holds every digit once
    assert sorted(y[:10]) == list(range(10))
    assert sorted(y[10:20]) == list(range(10))
    assert set(y[20:]) <= set(range(10))
    for text in X["text"]:
        assert isinstance(text, str) and len(text.split()) >= 1
    for image in X["image"]:
        assert isinstance(image, np.ndarray)
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    for clip in X["audio"]:
        assert isinstance(clip, np.ndarray)
        assert clip.ndim == 1 and clip.dtype == np.float32
        assert 0.4 * 8000 - 1 <= clip.size <= 1.0 * 8000 + 1


def test_sr_and_image_size_parameters():
    X, _ = make_multimodal_digits(n_samples=20, sr=16000, image_size=24, random_state=1)
    assert all(im.shape == (24, 24, 3) for im in X["image"])
    lengths = np.array([clip.size for clip in X["audio"]])
    assert lengths.min() >= 0.4 * 16000 - 1 and lengths.max() <= 16000 + 1


def test_clips_vary_in_length_are_never_silent_and_finite():
    X, _ = make_multimodal_digits(n_samples=150, random_state=3)
    clips = list(X["audio"])
    lengths = np.array([clip.size for clip in clips])
    assert lengths.min() < 0.5 * 8000 and lengths.max() > 0.9 * 8000
    assert len(np.unique(lengths)) > 100
    for clip in clips:
        assert np.isfinite(clip).all()
        peak = np.abs(clip).max()
        assert 0.09 <= peak <= 0.91
        assert np.sqrt(np.mean(clip.astype(np.float64) ** 2)) > 5e-3
        # on the 16-bit grid, so that PCM_16 WAV files are lossless
        scaled = clip.astype(np.float64) * 32768
        np.testing.assert_array_equal(scaled, np.rint(scaled))
    images = np.stack(list(X["image"]))
    assert images.std(axis=(1, 2, 3)).min() > 5  # no blank image


def test_texts_are_varied_and_do_not_name_the_digit():
    X, _ = make_multimodal_digits(n_samples=300, random_state=0)
    texts = list(X["text"])
    assert len(set(texts)) > 250
    digit_words = {"zero", "one", "two", "three", "six", "seven", "eight", "nine"}
    for text in texts:
        words = {w.strip(".,!?:-").lower() for w in text.split()}
        assert not any(ch.isdigit() for ch in text)
        # "one" only appears in phrases such as "a small one"
        assert not (digit_words - {"one"}) & words


def test_bunch():
    data = make_multimodal_digits(n_samples=30, return_X_y=False, random_state=0)
    X, y = make_multimodal_digits(n_samples=30, random_state=0)
    _assert_same_cells(data.data, X)
    np.testing.assert_array_equal(data.target, y)
    assert list(data.frame.columns) == [*COLUMNS, "digit"]
    np.testing.assert_array_equal(data.frame["digit"], y)
    np.testing.assert_array_equal(data.target_names, np.arange(10))
    assert data.feature_names == COLUMNS
    np.testing.assert_array_equal(data.factors["big"], y >= 5)
    np.testing.assert_array_equal(data.factors["odd"], y % 2)
    np.testing.assert_array_equal(data.factors["pitch_band"], y % 3)
    assert data.sr == 8000 and data.image_size == 32 and data.data_dir is None
    assert "Multimodal digits" in data.DESCR


# ---------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------
def test_same_seed_gives_identical_data_and_other_seed_differs():
    X1, y1 = make_multimodal_digits(n_samples=30, missing_rate=0.2, random_state=7)
    X2, y2 = make_multimodal_digits(n_samples=30, missing_rate=0.2, random_state=7)
    _assert_same_cells(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, y3 = make_multimodal_digits(n_samples=30, missing_rate=0.2, random_state=8)
    assert not np.array_equal(y1, y3)
    assert list(X1["text"]) != list(X3["text"])


def test_samples_do_not_depend_on_n_samples_or_missing_rate():
    X_small, y_small = make_multimodal_digits(n_samples=13, random_state=2)
    X_big, y_big = make_multimodal_digits(n_samples=40, random_state=2)
    _assert_same_cells(X_small, X_big.iloc[:13])
    np.testing.assert_array_equal(y_small, y_big[:13])
    X_miss, y_miss = make_multimodal_digits(
        n_samples=40, missing_rate=0.4, random_state=2
    )
    np.testing.assert_array_equal(y_miss, y_big)
    for column in COLUMNS:
        for a, b in zip(X_miss[column], X_big[column]):
            if a is not None:
                assert (a == b) if isinstance(a, str) else np.array_equal(a, b)


@pytest.mark.parametrize(
    "make_state",
    [
        lambda: 5,
        lambda: np.int64(5),
        lambda: np.random.RandomState(5),
        lambda: np.random.default_rng(5),
    ],
    ids=["int", "np.int64", "RandomState", "Generator"],
)
def test_random_state_forms_are_reproducible(make_state):
    X1, y1 = make_multimodal_digits(n_samples=12, random_state=make_state())
    X2, y2 = make_multimodal_digits(n_samples=12, random_state=make_state())
    _assert_same_cells(X1, X2)
    np.testing.assert_array_equal(y1, y2)


def test_random_state_none_uses_global_numpy_seed():
    np.random.seed(11)
    X1, _ = make_multimodal_digits(n_samples=10, random_state=None)
    np.random.seed(11)
    X2, _ = make_multimodal_digits(n_samples=10, random_state=None)
    _assert_same_cells(X1, X2)
    X3, _ = make_multimodal_digits(n_samples=10, random_state=None)
    assert list(X1["text"]) != list(X3["text"])


# ---------------------------------------------------------------------------
# missing modalities
# ---------------------------------------------------------------------------
def test_no_missing_cells_by_default():
    X, _ = make_multimodal_digits(n_samples=40, random_state=0)
    assert not X.isna().any().any()


def test_missing_rate_semantics():
    rate = 0.4
    X, _ = make_multimodal_digits(n_samples=600, missing_rate=rate, random_state=0)
    masks = np.column_stack([missing_mask(list(X[c])) for c in COLUMNS])
    # missing cells are None, never NaN or an empty string
    for column in COLUMNS:
        assert all(
            cell is None or isinstance(cell, (str, np.ndarray)) for cell in X[column]
        )
    assert not masks.all(axis=1).any()  # never all three missing
    expected = rate - rate**3 / 3
    np.testing.assert_allclose(masks.mean(axis=0), expected, atol=0.06)
    # independent per modality: every pair of modalities is missing together
    # about as often as independence predicts
    for a in range(3):
        for b in range(a + 1, 3):
            both = (masks[:, a] & masks[:, b]).mean()
            assert abs(both - masks[:, a].mean() * masks[:, b].mean()) < 0.06
    assert masks.sum(axis=1).max() == 2


def test_missing_rate_per_modality():
    X, _ = make_multimodal_digits(
        n_samples=300, missing_rate={"audio": 0.5}, random_state=0
    )
    assert not X["text"].isna().any() and not X["image"].isna().any()
    assert 0.4 < X["audio"].isna().mean() < 0.6


def test_high_missing_rate_keeps_one_modality():
    X, _ = make_multimodal_digits(n_samples=200, missing_rate=0.95, random_state=0)
    present = (~X.isna()).sum(axis=1)
    assert present.min() == 1
    assert (present == 1).mean() > 0.7


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def test_as_paths_writes_files_that_decode_to_the_arrays(tmp_path):
    kwargs = {"n_samples": 15, "missing_rate": 0.3, "random_state": 4}
    X_mem, y_mem = make_multimodal_digits(**kwargs)
    data = make_multimodal_digits(
        **kwargs, as_paths=True, data_home=tmp_path, return_X_y=False
    )
    X, y = data.data, data.target
    np.testing.assert_array_equal(y, y_mem)
    assert list(X["text"].fillna("<none>")) == list(X_mem["text"].fillna("<none>"))
    for column in ["image", "audio"]:
        np.testing.assert_array_equal(X[column].isna(), X_mem[column].isna())
    n_images = n_clips = 0
    for path, image in zip(X["image"], X_mem["image"]):
        if image is None:
            continue
        assert isinstance(path, str) and path.endswith(".png")
        assert path.startswith(str(tmp_path.resolve()))
        assert path.startswith(data.data_dir)
        with Image.open(path, formats=["PNG"]) as img:
            assert img.mode == "RGB"
            decoded = np.asarray(img)
        np.testing.assert_array_equal(decoded, image)
        n_images += 1
    for path, clip in zip(X["audio"], X_mem["audio"]):
        if clip is None:
            continue
        assert isinstance(path, str) and path.endswith(".wav")
        info = sf.info(path)
        assert info.samplerate == 8000 and info.channels == 1
        assert info.subtype == "PCM_16"
        decoded, sr = sf.read(path, dtype="float32")
        assert sr == 8000 and decoded.dtype == np.float32
        np.testing.assert_array_equal(decoded, clip)
        n_clips += 1
    assert n_images > 5 and n_clips > 5
    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert len(written) == n_images + n_clips  # no file for a missing cell


def test_as_paths_files_are_byte_identical_across_calls(tmp_path):
    X1, _ = make_multimodal_digits(
        n_samples=6, as_paths=True, data_home=tmp_path / "a", random_state=0
    )
    X2, _ = make_multimodal_digits(
        n_samples=6, as_paths=True, data_home=tmp_path / "b", random_state=0
    )
    for column in ["image", "audio"]:
        for p1, p2 in zip(X1[column], X2[column]):
            with open(p1, "rb") as f1, open(p2, "rb") as f2:
                assert f1.read() == f2.read()


def test_as_paths_default_data_home_respects_scikit_learn_data(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path))
    X, _ = make_multimodal_digits(n_samples=3, as_paths=True, random_state=0)
    for path in [*X["image"], *X["audio"]]:
        assert path.startswith(str(tmp_path.resolve()))


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 0}, ValueError, "'n_samples' parameter"),
        ({"n_samples": 2.5}, TypeError, "'n_samples' parameter"),
        ({"missing_rate": 1.0}, ValueError, "'missing_rate' parameter"),
        ({"missing_rate": -0.1}, ValueError, "'missing_rate' parameter"),
        ({"missing_rate": "0.1"}, TypeError, "'missing_rate' parameter"),
        ({"missing_rate": {"video": 0.1}}, ValueError, "unknown modalities"),
        ({"missing_rate": {"audio": 1.2}}, ValueError, r"missing_rate\['audio'\]"),
        ({"sr": 2000}, ValueError, r"'sr' parameter.*\[4000, inf\)"),
        ({"sr": 8000.0}, TypeError, "'sr' parameter"),
        ({"image_size": 8}, ValueError, r"'image_size' parameter.*\[16, 256\]"),
        ({"as_paths": "yes"}, TypeError, "'as_paths' parameter"),
        ({"return_X_y": None}, TypeError, "'return_X_y' parameter"),
        ({"data_home": 3}, TypeError, "'data_home' parameter"),
        ({"random_state": -1}, ValueError, "'random_state' parameter"),
        ({"random_state": "seed"}, ValueError, "'random_state' parameter"),
    ],
)
def test_parameter_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_multimodal_digits(**{"n_samples": 5, **kwargs})


# ---------------------------------------------------------------------------
# the dataset works with skmm's encoders
# ---------------------------------------------------------------------------
def test_encoders_accept_arrays_and_files(tmp_path):
    from skmm.encoders import MFCCEncoder, PixelEncoder

    kwargs = {"n_samples": 12, "missing_rate": 0.3, "random_state": 0}
    X, _ = make_multimodal_digits(**kwargs)
    X_files, _ = make_multimodal_digits(**kwargs, as_paths=True, data_home=tmp_path)
    mfcc = MFCCEncoder(sr=8000, n_mels=40, n_fft=512, hop_length=128)
    pixels = PixelEncoder(size=32)
    for encoder, column in [(mfcc, "audio"), (pixels, "image")]:
        from_arrays = encoder.fit_transform(X[column])
        from_files = encoder.fit_transform(X_files[column])
        np.testing.assert_allclose(from_files, from_arrays, rtol=1e-5, atol=1e-5)
        missing = X[column].isna().to_numpy()
        assert np.isnan(from_arrays[missing]).all()
        assert np.isfinite(from_arrays[~missing]).all()


# ---------------------------------------------------------------------------
# fusion matters: each modality alone (and each pair) is clearly worse
# ---------------------------------------------------------------------------
def _audio_features(clips, sr):
    import librosa

    feats = []
    for clip in clips:
        mfcc = librosa.feature.mfcc(
            y=clip, sr=sr, n_mfcc=20, n_fft=512, hop_length=128, n_mels=40
        )
        feats.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
    return np.asarray(feats)


def _image_features(images):
    grey = np.stack([im.astype(np.float64) @ [0.299, 0.587, 0.114] for im in images])
    grey = grey.reshape(len(images), -1)
    return (grey - grey.mean(axis=1, keepdims=True)) / grey.std(axis=1, keepdims=True)


def _text_vectorizer():
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)


def _image_reducer():
    return make_pipeline(StandardScaler(), PCA(15, random_state=0), StandardScaler())


def measure_accuracies(n_samples=600, n_splits=5, random_state=0):
    """Cross-validated accuracies of unimodal, pairwise and fused models.

    Text: TF-IDF word 1-2-grams + logistic regression. Image: grey pixels,
    standardised per image, + PCA(15) + logistic regression. Audio: librosa MFCC
    means and standard deviations + logistic regression. Late fusion: product of
    the unimodal out-of-fold probabilities (product of experts). Early fusion:
    the three feature blocks concatenated (image and audio blocks down-weighted)
    + logistic regression.
    """
    X, y = make_multimodal_digits(n_samples=n_samples, random_state=random_state)
    pixels = _image_features(list(X["image"]))
    mfcc = _audio_features(list(X["audio"]), sr=8000)
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=0)
    unimodal = {
        "text": (
            make_pipeline(_text_vectorizer(), LogisticRegression(C=10, max_iter=3000)),
            X["text"],
        ),
        "image": (
            make_pipeline(_image_reducer(), LogisticRegression(max_iter=3000)),
            pixels,
        ),
        "audio": (
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
            mfcc,
        ),
    }
    scores, log_proba = {}, {}
    for name, (model, features) in unimodal.items():
        proba = cross_val_predict(model, features, y, cv=cv, method="predict_proba")
        log_proba[name] = np.log(np.clip(proba, 1e-12, None))
        scores[name] = float(np.mean(proba.argmax(axis=1) == y))
    for combo in [("text", "image"), ("text", "audio"), ("image", "audio")]:
        joint = sum(log_proba[m] for m in combo)
        scores[" + ".join(combo)] = float(np.mean(joint.argmax(axis=1) == y))
    joint = sum(log_proba.values())
    scores["product of experts"] = float(np.mean(joint.argmax(axis=1) == y))

    table = pd.concat(
        [
            X[["text"]],
            pd.DataFrame(pixels).add_prefix("px"),
            pd.DataFrame(mfcc).add_prefix("mfcc"),
        ],
        axis=1,
    )
    early = make_pipeline(
        ColumnTransformer(
            [
                ("text", _text_vectorizer(), "text"),
                ("image", _image_reducer(), [c for c in table if c.startswith("px")]),
                ("audio", StandardScaler(), [c for c in table if c.startswith("mfcc")]),
            ],
            transformer_weights={"text": 1.0, "image": 0.2, "audio": 0.1},
        ),
        LogisticRegression(C=30, max_iter=3000),
    )
    pred = cross_val_predict(early, table, y, cv=cv)
    scores["early fusion"] = float(np.mean(pred == y))
    return scores


def test_all_three_modalities_are_needed():
    scores = measure_accuracies(n_samples=600, n_splits=5, random_state=0)
    # each modality alone: at most 20 % (text, image) or 30 % (audio) possible
    for name in ["text", "image", "audio"]:
        assert scores[name] < 0.4, scores
    # pairs: at most 40 % (text + image) or 60 % possible
    for name in ["text + image", "text + audio", "image + audio"]:
        assert scores[name] < 0.66, scores
    # all three: well above any pair
    assert scores["early fusion"] > 0.7, scores
    assert scores["product of experts"] > 0.65, scores
