"""Tests of the audio encoders (skmm.encoders._audio)."""

import pickle
import warnings

import librosa
import numpy as np
import pandas as pd
import pytest
import soundfile
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import get_tags

from skmm.encoders import (
    AudioLoader,
    MelSpectrogramEncoder,
    MFCCEncoder,
    TransformerAudioEncoder,
    load_audio,
)
from skmm.encoders._audio import SILENCE_PEAK, spectral_features
from skmm.exceptions import InvalidSampleError
from skmm.utils import grid_feature_names, infer_block_shape
from skmm.utils._testing import make_test_tones, make_test_wavs, make_tiny_wav2vec2

SR = 16000


def tone(n, sr=SR, freq=440.0, amp=0.5, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    y = amp * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(n)
    return y.astype(np.float32)


def write(path, data, sr, subtype="FLOAT"):
    soundfile.write(str(path), data, sr, subtype=subtype)
    return str(path)


# Small settings so that every test runs in milliseconds.
SMALL = {"sr": 8000, "n_mels": 16, "n_fft": 256, "hop_length": 128}


def small_encoders():
    return [
        AudioLoader(sr=8000),
        MelSpectrogramEncoder(duration=0.25, **SMALL),
        MelSpectrogramEncoder(pooling="mean_std", duration=None, **SMALL),
        MFCCEncoder(n_mfcc=8, **SMALL),
        MFCCEncoder(n_mfcc=8, pooling=None, duration=0.25, deltas=True, **SMALL),
    ]


@pytest.fixture
def w2v_path(tiny_wav2vec2):
    return tiny_wav2vec2


@pytest.fixture
def w2v_mask_path(tiny_wav2vec2_mask):
    return tiny_wav2vec2_mask


# --------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------
def test_files_at_different_rates_give_same_frames(tmp_path):
    p8 = write(tmp_path / "a8.wav", tone(8000, sr=8000), 8000, "PCM_16")
    p16 = write(tmp_path / "a16.wav", tone(16000, sr=16000), 16000, "PCM_16")
    waves = AudioLoader(sr=SR).fit_transform([p8, p16])
    assert [w.shape for w in waves] == [(16000,), (16000,)]
    assert all(w.dtype == np.float32 for w in waves)
    params = {"sr": SR, "n_fft": 1024, "hop_length": 512, "n_mels": 32}
    grids = [spectral_features(w, **params) for w in waves]
    assert grids[0].shape == grids[1].shape == (32 * 32,)
    # Both are the same 440 Hz tone: the resampled 8 kHz file has its energy in
    # the same mel band.
    peaks = [g.reshape(32, 32).mean(axis=0).argmax() for g in grids]
    assert peaks[0] == peaks[1]


def test_stereo_mixdown_and_multichannel(tmp_path):
    left, right = tone(4000, sr=8000), tone(4000, sr=8000, freq=1000, seed=1)
    path = write(tmp_path / "st.wav", np.stack([left, right], axis=1), 8000)
    (mono,) = AudioLoader(sr=8000).fit_transform([path])
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-6)
    (both,) = AudioLoader(sr=8000, mono=False).fit_transform([path])
    assert both.shape == (2, 4000)
    np.testing.assert_allclose(both, np.stack([left, right]), atol=1e-6)
    (single,) = AudioLoader(sr=8000, mono=False).fit_transform([left])
    assert single.shape == (1, 4000)


def test_tuple_cells_are_resampled():
    y = tone(4000, sr=8000)
    (out,) = AudioLoader(sr=SR).fit_transform([(y, 8000)])
    expected = librosa.resample(y, orig_sr=8000, target_sr=SR, res_type="soxr_hq")
    assert out.shape == (8000,)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # A bare array is taken to be at sr: unchanged.
    np.testing.assert_array_equal(AudioLoader(sr=8000).transform([y])[0], y)
    # A float sample rate equal to sr does not resample.
    np.testing.assert_array_equal(load_audio((y, 8000.0), sr=8000), y)


@pytest.mark.parametrize(
    "cell, match",
    [
        ((tone(100), 0), "positive number"),
        ((tone(100), -8000), "positive number"),
        ((tone(100), float("nan")), "positive number"),
        ((tone(100), "8000"), "positive number"),
        ((tone(100),), "expected an audio file path"),
        ((tone(100), 8000, 1), "expected an audio file path"),
        (([0.1, 0.2], 8000), "1-D float ndarray"),
        (np.zeros((2, 100), dtype=np.float32), "1-D"),
        (np.zeros((), dtype=np.float32), "1-D"),
        (np.arange(100, dtype=np.int16), "integer PCM"),
        (np.zeros(0, dtype=np.float32), "empty clip"),
        (np.array([0.1, np.nan, 0.2], dtype=np.float32), "NaN or infinite"),
        (np.array([0.1, np.inf, 0.2]), "NaN or infinite"),
        (3, "expected an audio file path"),
        ([0.1, 0.2], "expected an audio file path"),
        (b"RIFF", "expected an audio file path"),
    ],
)
def test_bad_cells_raise_with_index(cell, match):
    enc = MFCCEncoder(n_mfcc=8, **SMALL).fit([tone(2000, sr=8000)])
    cells = [tone(2000, sr=8000), None, cell]
    with pytest.raises(InvalidSampleError, match=match) as info:
        enc.transform(cells)
    assert info.value.index == 2
    assert "sample 2" in str(info.value)
    with pytest.raises(InvalidSampleError, match=match):
        AudioLoader(sr=8000).fit_transform(cells)


def test_pad_and_crop():
    ramp = np.linspace(0.1, 1.0, 8000, dtype=np.float32)
    start, tup, short = AudioLoader(sr=8000, duration=0.5).fit_transform(
        [ramp, (ramp, 8000), ramp[:1000]]
    )
    np.testing.assert_array_equal(start, ramp[:4000])
    np.testing.assert_array_equal(tup, ramp[:4000])
    assert short.shape == (4000,)
    np.testing.assert_array_equal(short[:1000], ramp[:1000])
    np.testing.assert_array_equal(short[1000:], 0)
    (center,) = AudioLoader(sr=8000, duration=0.5, crop="center").transform([ramp])
    np.testing.assert_array_equal(center, ramp[2000:6000])


@pytest.mark.parametrize("crop", ["start", "center"])
def test_file_crop_equals_in_memory_crop(tmp_path, crop):
    y = tone(8000, sr=8000)
    path = write(tmp_path / "t.wav", y, 8000)
    # Same rate: only the kept window is read from the file.
    from_file = load_audio(path, sr=8000, duration=0.3, crop=crop)
    in_memory = load_audio(y, sr=8000, duration=0.3, crop=crop)
    np.testing.assert_array_equal(from_file, in_memory)
    # Resampled: crop after resampling.
    from_file = load_audio(path, sr=SR, duration=0.3, crop=crop)
    np.testing.assert_array_equal(
        from_file, load_audio((y, 8000), sr=SR, duration=0.3, crop=crop)
    )
    assert from_file.shape == (4800,)


def test_bad_files_name_file_and_index(tmp_path):
    good = write(tmp_path / "good.wav", tone(2000, sr=8000), 8000)
    raw = open(good, "rb").read()
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(raw[:12] + bytes(range(200)))
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n" * 20)
    cases = [
        (str(corrupt), "cannot decode audio file"),
        (text, "cannot decode audio file"),  # a PathLike
        (str(tmp_path / "absent.wav"), "not found"),
        (str(tmp_path), "directory"),
    ]
    enc = MFCCEncoder(n_mfcc=8, **SMALL).fit([good])
    for cell, match in cases:
        with pytest.raises(InvalidSampleError, match=match) as info:
            enc.transform([good, good, cell])
        assert info.value.index == 2
        assert info.value.source == str(cell)
        assert str(cell) in str(info.value) and "sample 2" in str(info.value)


def test_nan_samples_in_file(tmp_path):
    y = tone(2000, sr=8000)
    y[100] = np.nan
    path = write(tmp_path / "nan.wav", y, 8000)
    with pytest.raises(InvalidSampleError, match="NaN") as info:
        AudioLoader(sr=8000).fit_transform([path])
    assert path in str(info.value)


def test_silence_policy(tmp_path):
    quiet = np.full(4000, SILENCE_PEAK / 10, dtype=np.float32)
    path = write(tmp_path / "silent.wav", np.zeros(4000, dtype=np.float32), 8000)
    for cell in (quiet, path, np.zeros(10, dtype=np.float32)):
        with pytest.raises(InvalidSampleError, match="silent clip") as info:
            MFCCEncoder(n_mfcc=8, **SMALL).fit_transform([tone(2000, sr=8000), cell])
        assert info.value.index == 1
    Xt = MFCCEncoder(n_mfcc=8, silence="keep", **SMALL).fit_transform([quiet, path])
    assert np.isfinite(Xt).all()
    waves = AudioLoader(sr=8000, silence="keep").fit_transform([path])
    np.testing.assert_array_equal(waves[0], 0)
    # Silence is judged on what is kept: a crop of the silent lead-in is silent.
    lead_in = np.r_[np.zeros(4000, dtype=np.float32), tone(4000, sr=8000)]
    assert AudioLoader(sr=8000).transform([lead_in])[0].shape == (8000,)
    with pytest.raises(InvalidSampleError, match="silent"):
        AudioLoader(sr=8000, duration=0.25).transform([lead_in])


# --------------------------------------------------------------------------------
# missing cells, errors="missing", parallelism
# --------------------------------------------------------------------------------
@pytest.mark.parametrize("enc", small_encoders()[1:], ids=lambda e: repr(e)[:40])
def test_missing_cells_give_nan_rows(enc):
    y = tone(3000, sr=8000)
    Xt = enc.fit_transform([y, None, np.nan, pd.NA, (y, 8000)])
    assert Xt.dtype == np.float32
    assert Xt.shape == (5, enc.n_features_out_)
    assert np.isfinite(Xt[[0, 4]]).all()
    assert np.isnan(Xt[1:4]).all()
    np.testing.assert_array_equal(Xt[0], Xt[4])


def test_audio_loader_missing_and_errors_missing(tmp_path):
    good = tone(2000, sr=8000)
    bad = str(tmp_path / "absent.wav")
    assert AudioLoader(sr=8000).fit_transform([None, good])[0] is None
    with pytest.warns(UserWarning, match=r"1 sample\(s\).*absent.wav"):
        out = AudioLoader(sr=8000, errors="missing").fit_transform([good, bad, None])
    assert out[1] is None and out[2] is None
    np.testing.assert_array_equal(out[0], good)


def test_errors_missing_gives_nan_row(tmp_path):
    good = tone(2000, sr=8000)
    bad = str(tmp_path / "absent.wav")
    enc = MFCCEncoder(n_mfcc=8, errors="missing", **SMALL).fit([good])
    with pytest.warns(UserWarning, match="sample 1"):
        Xt = enc.transform([good, bad, np.zeros(100, dtype=np.float32)])
    assert np.isfinite(Xt[0]).all()
    assert np.isnan(Xt[1:]).all()


def test_n_jobs_matches_serial(tmp_path):
    paths, _ = make_test_wavs(tmp_path, 12, sr=8000, duration=(0.1, 0.3))
    cells = [*paths, None]
    serial = MFCCEncoder(n_mfcc=8, batch_size=5, **SMALL).fit_transform(cells)
    parallel = MFCCEncoder(n_mfcc=8, batch_size=5, n_jobs=2, **SMALL).fit_transform(
        cells
    )
    np.testing.assert_array_equal(serial, parallel)
    waves = AudioLoader(sr=SR, n_jobs=2).fit_transform(cells)
    for wave, ref in zip(waves, AudioLoader(sr=SR).transform(cells)):
        if ref is None:
            assert wave is None
        else:
            np.testing.assert_array_equal(wave, ref)


def test_verbose_progress_bar_runs():
    y = tone(2000, sr=8000)
    enc = MFCCEncoder(n_mfcc=8, batch_size=2, verbose=1, **SMALL)
    assert enc.fit_transform([y] * 5).shape == (5, 16)
    assert len(AudioLoader(sr=8000, verbose=1).fit_transform([y] * 3)) == 3


# --------------------------------------------------------------------------------
# features
# --------------------------------------------------------------------------------
def test_pooled_and_grid_shapes_and_names():
    y = tone(4000, sr=8000)
    mel = MelSpectrogramEncoder(duration=0.5, **SMALL).fit([y])
    n_frames = 1 + 4000 // 128
    assert mel.n_features_out_ == n_frames * 16
    names = mel.get_feature_names_out()
    assert list(names) == list(grid_feature_names("logmel", (n_frames, 16)))
    assert infer_block_shape(["audio__" + n for n in names]) == (n_frames, 16)
    assert mel.transform([y]).shape == (1, n_frames * 16)

    pooled = MelSpectrogramEncoder(pooling="mean_std", duration=None, **SMALL).fit([y])
    names = pooled.get_feature_names_out()
    assert names[0] == "logmel0_mean" and names[16] == "logmel0_std"
    assert len(names) == 32 and infer_block_shape(names) is None

    mfcc = MFCCEncoder(n_mfcc=8, deltas=True, **SMALL).fit([y])
    names = list(mfcc.get_feature_names_out())
    assert len(names) == 48 == mfcc.transform([y]).shape[1]
    assert names[:2] == ["mfcc0_mean", "mfcc1_mean"]
    assert "mfcc_delta0_mean" in names and "mfcc_delta2_7_std" in names
    assert len(set(names)) == len(names)

    grid = MFCCEncoder(n_mfcc=8, deltas=True, pooling=None, duration=0.5, **SMALL)
    grid.fit([y])
    assert infer_block_shape(grid.get_feature_names_out()) == (n_frames, 24)


def test_grid_is_time_major_and_matches_librosa():
    y = tone(4000, sr=8000)
    enc = MelSpectrogramEncoder(duration=0.5, fmin=50.0, fmax=3000.0, **SMALL)
    Xt = enc.fit_transform([y])
    mel = librosa.feature.melspectrogram(
        y=y, sr=8000, n_fft=256, hop_length=128, n_mels=16, fmin=50.0, fmax=3000.0
    )
    expected = librosa.power_to_db(mel, ref=1.0)  # (n_mels, n_frames)
    grid = Xt.reshape(infer_block_shape(enc.get_feature_names_out()))
    np.testing.assert_allclose(grid, expected.T, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "params",
    [
        {"n_mfcc": 13, "n_mels": 40, "n_fft": 512, "hop_length": 256},
        {"n_mfcc": 20, "n_mels": 64, "n_fft": 1024, "hop_length": 512},
        {"n_mfcc": 8, "n_mels": 24, "n_fft": 400, "hop_length": 160, "fmin": 60.0},
    ],
)
def test_mfcc_matches_librosa(params):
    y = tone(6000, freq=700.0, noise=0.05)
    ref = librosa.feature.mfcc(y=y, sr=SR, **params)
    Xt = MFCCEncoder(sr=SR, **params).fit_transform([y])[0]
    np.testing.assert_allclose(Xt, np.r_[ref.mean(1), ref.std(1)], rtol=1e-4, atol=1e-3)

    grid = MFCCEncoder(sr=SR, pooling=None, duration=6000 / SR, deltas=True, **params)
    Xg = grid.fit_transform([y])[0].reshape(-1, 3 * params["n_mfcc"])
    np.testing.assert_allclose(Xg[:, : params["n_mfcc"]], ref.T, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(
        Xg[:, params["n_mfcc"] : 2 * params["n_mfcc"]],
        librosa.feature.delta(ref).T,
        rtol=1e-4,
        atol=1e-3,
    )


def test_short_clips_are_padded_to_one_window():
    short = tone(50, sr=8000)  # 50 samples < n_fft=256
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Xt = MFCCEncoder(n_mfcc=8, deltas=True, **SMALL).fit_transform([short])
        grid = MFCCEncoder(
            n_mfcc=8, deltas=True, pooling=None, duration=0.01, **SMALL
        ).fit_transform([short])
    assert np.isfinite(Xt).all()
    assert grid.shape == (1, (1 + 256 // 128) * 24)  # 3 frames of one window
    expected = spectral_features(
        np.r_[short, np.zeros(206, dtype=np.float32)],
        n_mfcc=8,
        deltas=True,
        pooling="mean_std",
        **SMALL,
    )
    np.testing.assert_allclose(Xt[0], expected, rtol=1e-6)


# --------------------------------------------------------------------------------
# estimator conformance
# --------------------------------------------------------------------------------
@pytest.mark.parametrize("enc", small_encoders(), ids=lambda e: repr(e)[:40])
def test_estimator_api(enc):
    y = tone(3000, sr=8000)
    params = enc.get_params()
    cloned = clone(enc)
    assert cloned.get_params() == params
    assert enc.set_params(verbose=0) is enc
    assert not any(k.endswith("_") for k in vars(cloned))
    assert enc.fit([y, None]) is enc
    first = enc.transform([y, y])
    second = enc.fit([y]).transform([y, y])
    if isinstance(first, list):
        np.testing.assert_array_equal(first[0], second[0])
    else:
        np.testing.assert_array_equal(first, second)
    with pytest.raises(ValueError, match="string object received"):
        enc.fit("a.wav")
    with pytest.raises(ValueError, match="empty column"):
        enc.fit([])
    tags = get_tags(enc)
    assert tags.input_tags.two_d_array is False
    assert tags.input_tags.allow_nan is True


@pytest.mark.parametrize("enc", small_encoders()[1:], ids=lambda e: repr(e)[:40])
def test_not_fitted_and_all_missing(enc):
    with pytest.raises(NotFittedError):
        enc.transform([tone(1000, sr=8000)])
    with pytest.raises(NotFittedError):
        enc.get_feature_names_out()
    with pytest.raises(ValueError, match="every cell of the column is missing"):
        enc.fit([None, np.nan])


def test_audio_loader_is_stateless_and_not_wrapped():
    loader = AudioLoader(sr=8000)
    assert get_tags(loader).requires_fit is False
    y = tone(1000, sr=8000)
    assert loader.transform([y])[0].shape == (1000,)  # no fit needed
    assert loader.set_output(transform="pandas") is loader
    pipe = make_pipeline(AudioLoader(sr=8000), MFCCEncoder(n_mfcc=8, **SMALL))
    out = pipe.set_output(transform="pandas").fit_transform([y, None])
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns[:2]) == ["mfcc0_mean", "mfcc1_mean"]
    assert out.iloc[1].isna().all()


@pytest.mark.parametrize(
    "enc, match",
    [
        (MFCCEncoder(pooling=None), "set duration"),
        (MelSpectrogramEncoder(duration=None), "set duration"),
        (MFCCEncoder(n_mfcc=80, n_mels=64), "exceeds n_mels"),
        (MFCCEncoder(pooling="max"), "'pooling' parameter of MFCCEncoder"),
        (MFCCEncoder(crop="end"), "'crop' parameter"),
        (MFCCEncoder(silence="ignore"), "'silence' parameter"),
        (MFCCEncoder(sr=0), "'sr' parameter"),
        (MFCCEncoder(sr=float("inf")), "'sr' parameter"),
        (MFCCEncoder(n_fft=0), "'n_fft' parameter"),
        (MFCCEncoder(hop_length=1.5), "'hop_length' parameter"),
        (MFCCEncoder(duration=-1.0), "'duration' parameter"),
        (MFCCEncoder(duration=1e-9), "shorter than one sample"),
        (MFCCEncoder(fmax=9000.0), "fmax must be"),
        (MFCCEncoder(fmin=-1.0), "'fmin' parameter"),
        (MFCCEncoder(fmin=9000.0), "fmin must be"),
        (MFCCEncoder(deltas="yes"), "'deltas' parameter"),
        (MFCCEncoder(errors="skip"), "'errors' parameter"),
        (MFCCEncoder(batch_size=0), "'batch_size' parameter"),
        (AudioLoader(sr=-1), "'sr' parameter"),
        (AudioLoader(mono="yes"), "'mono' parameter"),
        (AudioLoader(errors="ignore"), "'errors' parameter"),
        (TransformerAudioEncoder("x", pooling="cls"), "'pooling' parameter"),
        (TransformerAudioEncoder(3), "'model_name_or_path' parameter"),
    ],
)
def test_invalid_params(enc, match):
    with pytest.raises(ValueError, match=match):
        enc.fit([tone(1000)])


@pytest.mark.parametrize("enc", small_encoders()[1:], ids=lambda e: repr(e)[:40])
def test_pickle_round_trip(enc):
    y = tone(3000, sr=8000)
    expected = enc.fit_transform([y, None])
    restored = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(restored.transform([y, None]), expected)


def test_column_transformer_and_paths(tmp_path):
    paths, _ = make_test_wavs(tmp_path, 4, sr=8000, duration=0.2)
    df = pd.DataFrame({"audio": [*paths, None], "x": np.arange(5.0)})
    ct = ColumnTransformer(
        [("audio", MFCCEncoder(n_mfcc=8, **SMALL), "audio")], remainder="passthrough"
    )
    out = ct.fit_transform(df)
    assert out.shape == (5, 17)
    assert ct.get_feature_names_out()[0] == "audio__mfcc0_mean"
    assert np.isnan(out[4, :16]).all() and out[4, 16] == 4.0


def test_learns_two_sound_classes(tmp_path):
    paths, y = make_test_wavs(
        tmp_path, 80, sr=8000, duration=(0.1, 0.4), noise=0.1, random_state=1
    )
    X_train, X_test, y_train, y_test = train_test_split(
        np.asarray(paths, dtype=object), y, test_size=0.25, random_state=0, stratify=y
    )
    pipe = Pipeline(
        [
            ("mfcc", MFCCEncoder(**SMALL)),
            ("scale", StandardScaler()),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    )
    search = GridSearchCV(pipe, {"mfcc__n_mfcc": [4, 8]}, cv=3)
    search.fit(X_train, y_train)
    assert search.best_params_["mfcc__n_mfcc"] in (4, 8)
    assert search.score(X_test, y_test) >= 0.9  # chance is 0.5


# --------------------------------------------------------------------------------
# TransformerAudioEncoder
# --------------------------------------------------------------------------------
def manual_embeddings(path, waves, pooling="mean"):
    import torch
    from transformers import AutoFeatureExtractor, AutoModel

    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    extractor = AutoFeatureExtractor.from_pretrained(path, local_files_only=True)
    rows = []
    with torch.inference_mode():
        for wave in waves:
            inputs = extractor(wave, sampling_rate=SR, return_tensors="pt")
            hidden = model(**inputs).last_hidden_state[0]
            pooled = hidden.mean(0) if pooling == "mean" else hidden.amax(0)
            rows.append(pooled.numpy())
    return np.asarray(rows)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_transformer_matches_manual_forward(w2v_path, w2v_mask_path, masked, pooling):
    path = w2v_mask_path if masked else w2v_path
    waves, _ = make_test_tones(5, sr=SR, duration=(0.02, 0.08))
    waves[3] = waves[1][:]  # two clips of equal length share a batch
    enc = TransformerAudioEncoder(path, pooling=pooling, batch_size=4)
    Xt = enc.fit_transform([*waves, None])
    assert Xt.shape == (6, 16) and Xt.dtype == np.float32
    assert np.isnan(Xt[5]).all()
    expected = manual_embeddings(path, waves, pooling)
    np.testing.assert_allclose(Xt[:5], expected, rtol=1e-4, atol=1e-5)
    # A clip's embedding does not depend on its batch.
    one = TransformerAudioEncoder(path, pooling=pooling, batch_size=1)
    np.testing.assert_allclose(one.fit_transform(waves), Xt[:5], atol=1e-5)


def test_transformer_normalize_duration_and_names(w2v_path):
    waves, _ = make_test_tones(3, sr=SR, duration=(0.02, 0.08))
    enc = TransformerAudioEncoder(w2v_path, normalize=True, duration=0.05)
    Xt = enc.fit_transform(waves)
    np.testing.assert_allclose(np.linalg.norm(Xt, axis=1), 1.0, rtol=1e-5)
    assert list(enc.get_feature_names_out()[:2]) == ["emb0", "emb1"]
    fixed = [load_audio(w, sr=SR, duration=0.05) for w in waves]
    expected = manual_embeddings(w2v_path, fixed)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(Xt, expected, rtol=1e-4, atol=1e-5)


def test_transformer_pickle_is_small_and_reloads(w2v_path):
    from skmm.utils._cache import clear_resource_cache

    waves, _ = make_test_tones(3, sr=SR, duration=(0.02, 0.05))
    enc = TransformerAudioEncoder(w2v_path).fit(waves)
    expected = enc.transform(waves)
    blob = pickle.dumps(enc)
    assert len(blob) < 4000  # the path, not the weights
    clear_resource_cache()
    restored = pickle.loads(blob)
    assert "_model" not in vars(restored)
    np.testing.assert_array_equal(restored.transform(waves), expected)
    cloned = clone(enc)
    assert "_model" not in vars(cloned) and cloned.get_params() == enc.get_params()


def test_transformer_detects_changed_model(tmp_path):
    from skmm.utils._cache import clear_resource_cache

    path = make_tiny_wav2vec2(tmp_path / "m")
    waves, _ = make_test_tones(2, sr=SR, duration=0.05)
    blob = pickle.dumps(TransformerAudioEncoder(path).fit(waves))
    make_tiny_wav2vec2(tmp_path / "m", random_state=1)  # re-saved, other weights
    clear_resource_cache()  # as in a fresh process
    with pytest.raises(ValueError, match="changed since"):
        pickle.loads(blob).transform(waves)


def test_transformer_errors(w2v_path, tmp_path):
    waves, _ = make_test_tones(2, sr=SR, duration=0.05)
    with pytest.raises(ValueError, match="expects 16000 Hz"):
        TransformerAudioEncoder(w2v_path, sr=8000).fit(waves)
    with pytest.raises(OSError, match="could not load"):
        TransformerAudioEncoder(str(tmp_path)).fit(waves)
    enc = TransformerAudioEncoder(w2v_path).fit(waves)
    with pytest.raises(InvalidSampleError, match="too short for the model") as info:
        enc.transform([waves[0], waves[1][:10]])
    assert info.value.index == 1
    with pytest.raises(InvalidSampleError, match="silent"):
        enc.transform([np.zeros(800, dtype=np.float32)])
    with pytest.raises(NotFittedError):
        TransformerAudioEncoder(w2v_path).transform(waves)


def test_loader_output_does_not_alias_input():
    y = tone(1000, sr=8000)
    (out,) = AudioLoader(sr=8000).fit_transform([y])
    assert not np.shares_memory(out, y)
    out[:] = 0
    assert np.abs(y).max() > 0
