"""Hostile files, mis-paired tables and atomic fits (issue 12).

Every case either raises an error that names the sample, column and file, or is
handled correctly; nothing hangs, nothing is silently wrong.
"""

import os
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile
from PIL import Image

from skmm.encoders import ImageLoader, MFCCEncoder, PixelEncoder, load_audio
from skmm.encoders import _audio as audio_module
from skmm.encoders._image_io import decode_image
from skmm.exceptions import InvalidSampleError

SR = 8000
SMALL = {"sr": SR, "n_mels": 16, "n_fft": 256, "hop_length": 128, "n_mfcc": 8}


def tone(n, sr=SR, freq=440.0, amp=0.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    y = amp * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(n)
    return y.astype(np.float32)


def write_wav(path, y, sr=SR, subtype="PCM_16"):
    soundfile.write(str(path), y, sr, subtype=subtype)
    return str(path)


def finishes(func, timeout=10.0):
    """Run ``func`` in a thread; return its exception (or None), fail on a hang."""
    outcome = {}

    def target():
        try:
            func()
        except BaseException as exc:
            outcome["exc"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked on a special file"
    return outcome.get("exc")


@pytest.fixture
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "pipe.wav"
    os.mkfifo(path)
    return str(path)


def forged_flac(path, n=SR):
    """A valid FLAC whose STREAMINFO claims 2**36 - 1 frames."""
    soundfile.write(str(path), tone(n), SR, format="FLAC")
    raw = bytearray(open(path, "rb").read())
    assert raw[:4] == b"fLaC"
    # fLaC, block header (4), then STREAMINFO: 10 bytes, then 64 bits holding
    # sample rate (20), channels-1 (3), bits-1 (5) and total samples (36).
    word = int.from_bytes(raw[18:26], "big")
    word |= (1 << 36) - 1
    raw[18:26] = word.to_bytes(8, "big")
    open(path, "wb").write(bytes(raw))
    return str(path)


# ---------------------------------------------------------------------------
# special files
# ---------------------------------------------------------------------------
def test_fifo_refused_by_audio_and_image_loaders(fifo):
    exc = finishes(lambda: load_audio(fifo, sr=SR))
    assert isinstance(exc, InvalidSampleError)
    assert "FIFO" in str(exc) and fifo in str(exc)
    exc = finishes(lambda: decode_image(fifo))
    assert isinstance(exc, InvalidSampleError)
    assert "FIFO" in str(exc) and fifo in str(exc)


def test_fifo_with_errors_missing(tmp_path, fifo):
    good = write_wav(tmp_path / "good.wav", tone(SR))
    enc = MFCCEncoder(errors="missing", **SMALL).fit([good])
    with pytest.warns(UserWarning, match="pipe.wav"):
        Xt = enc.transform([good, fifo])
    assert np.isfinite(Xt[0]).all() and np.isnan(Xt[1]).all()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(tmp_path / "a.png")
    loader = PixelEncoder(size=4, errors="missing").fit([str(tmp_path / "a.png")])
    with pytest.warns(UserWarning, match="pipe.wav"):
        Xt = loader.transform([str(tmp_path / "a.png"), fifo])
    assert np.isnan(Xt[1]).all() and np.isfinite(Xt[0]).all()


def test_directory_and_device_refused(tmp_path):
    with pytest.raises(InvalidSampleError, match="directory"):
        load_audio(str(tmp_path), sr=SR)
    with pytest.raises(InvalidSampleError, match="directory"):
        decode_image(str(tmp_path))
    if os.path.exists("/dev/zero"):  # an endless stream
        exc = finishes(lambda: load_audio("/dev/zero", sr=SR))
        assert isinstance(exc, InvalidSampleError) and "character device" in str(exc)
        exc = finishes(lambda: ImageLoader().fit_transform(["/dev/zero"]))
        assert isinstance(exc, InvalidSampleError) and "sample 0" in str(exc)


# ---------------------------------------------------------------------------
# forged headers, truncation, amplitude
# ---------------------------------------------------------------------------
def test_forged_flac_header_gives_named_error_not_memoryerror(tmp_path):
    path = forged_flac(tmp_path / "huge.flac")
    with soundfile.SoundFile(path) as f:
        assert f.frames == 2**36 - 1  # the forgery worked
    with pytest.raises(InvalidSampleError, match=r"huge\.flac.*limit of"):
        load_audio(path, sr=SR)
    # Reading past the real data: a named error too, never an allocation.
    with pytest.raises(InvalidSampleError, match="truncated or corrupt"):
        load_audio(path, sr=SR, duration=2.0)
    with pytest.raises(InvalidSampleError, match="truncated or corrupt"):
        load_audio(path, sr=SR, duration=0.5, crop="center")
    # The first half second really is in the file.
    assert load_audio(path, sr=SR, duration=0.5).shape == (SR // 2,)
    # Through an encoder: the file and sample are named; errors="missing" works.
    good = write_wav(tmp_path / "good.wav", tone(SR))
    enc = MFCCEncoder(**SMALL).fit([good])
    with pytest.raises(InvalidSampleError, match=r"sample 1 .*huge\.flac"):
        enc.transform([good, path])
    enc = MFCCEncoder(errors="missing", **SMALL).fit([good])
    with pytest.warns(UserWarning, match="huge.flac"):
        Xt = enc.transform([good, path])
    assert np.isnan(Xt[1]).all()


def test_max_samples_limit(tmp_path):
    path = write_wav(tmp_path / "long.wav", tone(4 * SR))
    with pytest.raises(InvalidSampleError, match="limit of 1000 samples"):
        load_audio(path, sr=SR, max_samples=1000)
    # Only the kept window counts when duration is set.
    assert load_audio(path, sr=SR, max_samples=1000, duration=0.1).shape == (800,)
    # Upsampling counts the decoded output, too.
    with pytest.raises(InvalidSampleError, match="limit"):
        load_audio(path, sr=8 * SR, max_samples=4 * SR * 4)


def test_truncated_wav_raises(tmp_path):
    path = write_wav(tmp_path / "t.wav", tone(SR))
    raw = open(path, "rb").read()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(raw[: len(raw) // 2])
    for kwargs in ({}, {"duration": 0.1}, {"duration": 0.1, "crop": "center"}):
        with pytest.raises(InvalidSampleError, match=r"cut\.wav.*truncated"):
            load_audio(str(cut), sr=SR, **kwargs)
    enc = MFCCEncoder(errors="missing", **SMALL).fit([path])
    with pytest.warns(UserWarning, match="cut.wav"):
        assert np.isnan(enc.transform([str(cut)])).all()


def test_streamed_wav_with_unknown_length_is_not_truncated(tmp_path):
    path = write_wav(tmp_path / "t.wav", tone(SR))
    raw = bytearray(open(path, "rb").read())
    assert raw[36:40] == b"data"
    raw[4:8] = raw[40:44] = (0xFFFFFFFF).to_bytes(4, "little")
    stream = tmp_path / "stream.wav"
    stream.write_bytes(bytes(raw))
    np.testing.assert_array_equal(
        load_audio(str(stream), sr=SR), load_audio(path, sr=SR)
    )


@pytest.mark.parametrize("amplitude", [1e30, 3e38])
def test_huge_finite_amplitude_is_an_error_not_missing(tmp_path, amplitude):
    y = tone(SR).astype(np.float64) * amplitude
    y = y.astype(np.float32)
    assert np.isfinite(y).all()
    with pytest.raises(InvalidSampleError, match="amplitude"):
        load_audio(y, sr=SR)
    with pytest.raises(InvalidSampleError, match="amplitude"):
        load_audio((y, 2 * SR), sr=SR)
    path = write_wav(tmp_path / "loud.wav", y, subtype="FLOAT")
    enc = MFCCEncoder(**SMALL).fit([tone(SR)])
    with pytest.raises(InvalidSampleError, match=r"sample 1 .*loud\.wav.*amplitude"):
        enc.transform([tone(SR), path])
    # Mis-scaled but plausible PCM floats (int16 range) are still encoded.
    assert np.isfinite(enc.transform([tone(SR) * 32767])).all()


def _count_frames_read(monkeypatch):
    seen = []
    original = soundfile.SoundFile.read

    def read(self, frames=-1, *args, **kwargs):
        out = original(self, frames, *args, **kwargs)
        seen.append(len(out))
        return out

    monkeypatch.setattr(soundfile.SoundFile, "read", read)
    return seen


@pytest.mark.parametrize("crop", ["start", "center"])
def test_duration_reads_only_needed_frames_when_resampling(tmp_path, monkeypatch, crop):
    orig_sr = 22050
    path = write_wav(tmp_path / "long.wav", tone(60 * orig_sr, sr=orig_sr), orig_sr)
    full = load_audio(path, sr=16000)
    seen = _count_frames_read(monkeypatch)
    clip = load_audio(path, sr=16000, duration=0.5, crop=crop)
    # 0.5 s plus a 1 s margin on each side, not 60 s.
    assert seen and sum(seen) <= 3 * orig_sr
    assert clip.shape == (8000,)
    start = 0 if crop == "start" else (full.size - 8000) // 2
    np.testing.assert_allclose(clip, full[start : start + 8000], atol=1e-6)
    assert audio_module.MAX_SAMPLES == 2**28


def test_audio_errors_name_sample_column_and_file(tmp_path):
    from skmm.compose import MultimodalEncoder

    good = write_wav(tmp_path / "good.wav", tone(SR))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEnot audio at all")
    table = pd.DataFrame({"speech": [good, None, str(bad)]}, index=["a", "b", "c"])
    enc = MultimodalEncoder([("speech", MFCCEncoder(**SMALL), "speech")])
    with pytest.raises(InvalidSampleError) as info:
        enc.fit(table)
    message = str(info.value)
    assert "column 'speech'" in message and "bad.wav" in message
    assert "'c'" in message  # the row label of the user's table
    assert info.value.source.endswith("bad.wav")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_audio(good, sr=SR).dtype == np.float32


# ---------------------------------------------------------------------------
# MultimodalEncoder and the data contract
# ---------------------------------------------------------------------------
def _tfidf_encoder():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmm.compose import MultimodalEncoder

    return MultimodalEncoder(
        [("text", TfidfVectorizer(), "caption"), ("size", "passthrough", "size")]
    )


TABLE = pd.DataFrame(
    {
        "caption": ["a red cat", "a blue dog", None, "a green bird"],
        "size": [1.0, 2.0, 3.0, 4.0],
    },
    index=["r1", "r2", "r3", "r4"],
)


@pytest.mark.parametrize(
    "bad, match",
    [
        ("", "empty or whitespace-only"),
        ("   \n", "empty or whitespace-only"),
        (b"a cat", "decode bytes"),
        (42, "expected a text"),
        (["a", "cat"], "expected a text"),
    ],
)
def test_text_cells_checked_before_sklearn_vectorizer(bad, match):
    table = TABLE.copy()
    table["caption"] = table["caption"].astype(object)
    table.at["r4", "caption"] = bad
    for stage in ("fit", "transform"):
        enc = _tfidf_encoder()
        with pytest.raises(InvalidSampleError, match=match) as info:
            if stage == "fit":
                enc.fit(table)
            else:
                enc.fit(TABLE).transform(table)
        assert info.value.column == "text" and info.value.index == 3
        assert info.value.row == "r4" and "row 'r4'" in str(info.value)


def test_text_check_also_through_pipeline_and_not_for_custom_analyzer():
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    from skmm.compose import MultimodalEncoder

    table = pd.DataFrame({"caption": ["a cat", " ", "a dog", "a cow"]})
    pipe = make_pipeline(TfidfVectorizer(), TruncatedSVD(2, random_state=0))
    with pytest.raises(InvalidSampleError, match="sample 1"):
        MultimodalEncoder([("text", pipe, "caption")]).fit(table)
    # A user-supplied analyzer decides itself what a document is: token lists.
    tokens = pd.DataFrame({"caption": [["a", "cat"], ["a", "dog"]]})
    enc = MultimodalEncoder(
        [("text", CountVectorizer(analyzer=lambda doc: doc), "caption")]
    )
    assert enc.fit_transform(tokens).shape == (2, 3)


def test_foreign_encoder_error_is_located_to_row_and_column():
    from sklearn.preprocessing import FunctionTransformer

    from skmm.compose import MultimodalEncoder

    def features(cells):
        return np.array([[float(len(c)), float(c.count("a"))] for c in cells])

    enc = MultimodalEncoder([("text", FunctionTransformer(features), "caption")]).fit(
        pd.DataFrame({"caption": ["a cat", "a dog"]})
    )
    bad = pd.DataFrame({"caption": ["ok", 3, "fine"]}, index=[10, 11, 12])
    with pytest.raises(InvalidSampleError) as info:
        enc.transform(bad)
    assert info.value.index == 1 and info.value.row == 11
    assert info.value.column == "text" and "FunctionTransformer" in str(info.value)


def test_positional_columns_follow_names_when_reordered():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmm.compose import MultimodalEncoder

    table = pd.DataFrame({"caption": ["a red cat", "a blue dog"], "size": [1.0, 2.0]})
    enc = MultimodalEncoder(
        [("text", TfidfVectorizer(), 0), ("size", "passthrough", 1)]
    ).fit(table)
    assert enc.columns_ == {"text": "caption", "size": "size"}
    expected = enc.transform(table)
    swapped = table[["size", "caption"]]
    pd.testing.assert_frame_equal(enc.transform(swapped), expected)
    with pytest.raises(ValueError, match="missing from X"):
        enc.transform(table.rename(columns={"caption": "text"}))
    # An array is read by the positions of fit.
    pd.testing.assert_frame_equal(
        enc.transform(table.to_numpy(dtype=object)),
        expected.reset_index(drop=True),
    )


def test_dict_of_series_aligned_by_label_or_refused():
    from skmm.compose import MultimodalEncoder

    enc = MultimodalEncoder([("a", "passthrough", "a"), ("b", "passthrough", "b")])
    a = pd.Series([1.0, 2.0, 3.0], index=["x", "y", "z"])
    b = pd.Series([30.0, 10.0, 20.0], index=["z", "x", "y"])
    out = enc.fit_transform({"a": a, "b": b})
    assert out.index.tolist() == ["x", "y", "z"]
    np.testing.assert_array_equal(out["b__b"], [10.0, 20.0, 30.0])
    c = pd.Series([1.0, 2.0, 3.0], index=["x", "y", "w"])
    with pytest.raises(ValueError, match="different indexes"):
        enc.fit_transform({"a": a, "b": c})


def test_failed_fit_is_atomic():
    from sklearn.exceptions import NotFittedError
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.utils.validation import check_is_fitted

    from skmm.compose import MultimodalEncoder

    class Boom(TfidfVectorizer):
        def fit_transform(self, raw_documents, y=None):
            super().fit_transform(raw_documents, y)
            raise RuntimeError("fails after doing its work")

    good = MultimodalEncoder(
        [("text", TfidfVectorizer(), "caption"), ("size", "passthrough", "size")]
    )
    bad = MultimodalEncoder(
        [("size", "passthrough", "size"), ("text", Boom(), "caption")]
    )
    with pytest.raises(RuntimeError, match="fails after") as info:
        bad.fit(TABLE)
    assert any("modality 'text'" in note for note in info.value.__notes__)
    with pytest.raises(NotFittedError):
        check_is_fitted(bad)
    # A refit that fails keeps the previous fitted state, whole.
    good.fit(TABLE)
    before = good.transform(TABLE)
    broken = TABLE.astype(object)
    broken.loc["r2", "size"] = "large"
    with pytest.raises(InvalidSampleError, match="row 'r2'"):
        good.fit(broken.assign(extra=0))
    pd.testing.assert_frame_equal(good.transform(TABLE), before)
    assert good.n_features_in_ == 2


def test_errors_inside_cv_folds_name_the_users_row():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline

    from skmm.compose import MultimodalEncoder

    rng = np.random.default_rng(0)
    words = ["red cat", "blue dog", "green bird", "pink cow"]
    captions = [words[i % 4] + f" {rng.integers(9)}" for i in range(40)]
    captions[37] = "   "
    table = pd.DataFrame({"caption": captions}, index=[f"id{i}" for i in range(40)])
    y = np.arange(40) % 2
    pipe = make_pipeline(
        MultimodalEncoder([("text", TfidfVectorizer(), "caption")]),
        LogisticRegression(),
    )
    with pytest.raises(InvalidSampleError) as info:
        cross_val_score(pipe, table, y, cv=4, error_score="raise")
    # Inside the fold the position is < 30; the label is the user's row.
    assert info.value.row == "id37" and "row 'id37'" in str(info.value)
    # A default RangeIndex still names the user's row after CV splitting.
    with pytest.raises(InvalidSampleError) as info:
        cross_val_score(
            pipe, table.reset_index(drop=True), y, cv=4, error_score="raise"
        )
    assert info.value.row == 37
