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
        except BaseException as exc:  # noqa: BLE001 - reported to the test
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
    with pytest.raises(InvalidSampleError, match="huge.flac.*limit of"):
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
        with pytest.raises(InvalidSampleError, match="cut.wav.*truncated"):
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
