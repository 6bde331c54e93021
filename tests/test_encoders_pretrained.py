"""What every pretrained encoder shares (skmm.encoders._pretrained), offline.

One fingerprint (``weights_sha256_``) checked on reload, one resolution of hub
names that fails fast offline, one pooling, ``normalize``, ``emb`` feature names,
``device_``, error types; torchvision weight enums read from torch's hub cache
with ``weights_only=True``.
"""

import os
import pickle
import urllib.error

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone

from skmm.encoders import (
    TorchvisionImageEncoder,
    TransformerAudioEncoder,
    TransformerImageEncoder,
    TransformerTextEncoder,
    _pretrained,
)
from skmm.encoders._base import load_cells
from skmm.encoders._pretrained import BasePretrainedEncoder
from skmm.exceptions import WeightsChangedError
from skmm.utils._cache import clear_resource_cache, file_sha256
from skmm.utils._testing import (
    make_test_tones,
    make_tiny_text_model,
    make_torchvision_weights,
)

TEXTS = ["a good movie", "the plot was bad", "great fun", "awful and boring"]
IMAGES = [np.full((20, 24, 3), v, dtype=np.uint8) for v in (0, 90, 200)]


def _cases(tiny_text_model, tiny_vit, tiny_wav2vec2, resnet18_weights):
    waves, _ = make_test_tones(3, sr=16000, duration=0.05)
    return [
        (TransformerTextEncoder(tiny_text_model), TEXTS),
        (TransformerImageEncoder(tiny_vit), IMAGES),
        (TransformerAudioEncoder(tiny_wav2vec2), waves),
        (TorchvisionImageEncoder(weights=resnet18_weights, size=32), IMAGES),
    ]


def test_one_base_one_scheme(
    tiny_text_model, tiny_vit, tiny_wav2vec2, resnet18_weights
):
    for enc, cells in _cases(
        tiny_text_model, tiny_vit, tiny_wav2vec2, resnet18_weights
    ):
        assert isinstance(enc, BasePretrainedEncoder)
        enc.fit(cells)
        names = enc.get_feature_names_out()
        assert names.tolist() == [f"emb{i}" for i in range(enc.n_features_out_)]
        assert enc.device_ == "cpu"
        assert len(enc.weights_sha256_) == 64
        assert enc.weights_sha256_ == file_sha256(enc.model_path_)
        out = enc.transform(cells)
        assert out.dtype == np.float32 and np.isfinite(out).all()
        # normalize: the same switch, applied after pooling, everywhere
        unit = clone(enc).set_params(normalize=True).fit(cells).transform(cells)
        np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(
            unit, out / np.linalg.norm(out, axis=1, keepdims=True), rtol=1e-4, atol=1e-6
        )


@pytest.mark.parametrize("kind", ["text", "image", "audio", "torchvision"])
def test_replaced_weights_are_refused_after_loading(kind, tmp_path):
    """Issue 12: a replaced model must not silently change saved predictions."""
    waves, _ = make_test_tones(2, sr=16000, duration=0.05)
    if kind == "text":
        path = make_tiny_text_model(tmp_path / "m")
        enc, cells, rebuild = TransformerTextEncoder(path), TEXTS, make_tiny_text_model
    elif kind == "image":
        from skmm.utils._testing import make_tiny_vit

        path = make_tiny_vit(tmp_path / "m")
        enc, cells, rebuild = TransformerImageEncoder(path), IMAGES, make_tiny_vit
    elif kind == "audio":
        from skmm.utils._testing import make_tiny_wav2vec2

        path = make_tiny_wav2vec2(tmp_path / "m")
        enc, cells, rebuild = TransformerAudioEncoder(path), waves, make_tiny_wav2vec2
    else:
        path = make_torchvision_weights(tmp_path / "w.pth", "resnet18")
        enc = TorchvisionImageEncoder(weights=path, size=32)
        cells = IMAGES

        def rebuild(p, random_state):
            return make_torchvision_weights(p, "resnet18", random_state=random_state)

    expected = enc.fit(cells).transform(cells)
    blob = pickle.dumps(enc)
    # Unchanged weights: the pickle reloads them and predicts identically.
    clear_resource_cache()
    np.testing.assert_array_equal(pickle.loads(blob).transform(cells), expected)
    rebuild(path, random_state=1)  # replaced in place
    clear_resource_cache()  # as in a fresh process
    restored = pickle.loads(blob)
    with pytest.raises(WeightsChangedError, match="changed since the encoder was"):
        restored.transform(cells)
    assert issubclass(WeightsChangedError, ValueError)


def test_token_sequence_tokenizer_fingerprint(tmp_path):
    from skmm.encoders import TokenSequenceEncoder

    path = make_tiny_text_model(tmp_path / "m")
    enc = TokenSequenceEncoder(tokenizer=path, max_length=6).fit(TEXTS)
    assert enc.weights_sha256_ == file_sha256(path)
    expected = enc.transform(TEXTS)
    blob = pickle.dumps(enc)
    clear_resource_cache()
    np.testing.assert_array_equal(pickle.loads(blob).transform(TEXTS), expected)
    with open(os.path.join(path, "vocab.txt"), "a", encoding="utf-8") as f:
        f.write("extra\n")
    clear_resource_cache()
    with pytest.raises(WeightsChangedError, match="tokenizer files"):
        pickle.loads(blob).transform(TEXTS)
    assert TokenSequenceEncoder().fit(TEXTS).weights_sha256_ is None


def test_hub_name_fails_fast_when_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    probes = []
    monkeypatch.setattr(_pretrained, "_hub_reachable", lambda *a: probes.append(a))
    with pytest.raises(OSError, match=r"not in the local Hugging Face cache.*offline"):
        TransformerTextEncoder("some-org/some-model").fit(TEXTS)
    assert probes == []  # HF_HUB_OFFLINE: not even a connection attempt


def test_hub_name_fails_fast_without_network(monkeypatch):
    # No HF_HUB_OFFLINE, but no route to the hub: one short probe, then a clear
    # error -- not the hub client's minute of retries.
    monkeypatch.setattr(_pretrained, "hub_offline", lambda: False)
    monkeypatch.setattr(_pretrained, "_hub_reachable", lambda *a, **k: False)

    def no_download(*args, **kwargs):
        if not kwargs.get("local_files_only"):
            raise AssertionError("must not try to download")
        raise OSError("not cached")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)
    for enc in (
        TransformerTextEncoder("some-org/some-model"),
        TransformerImageEncoder("some-org/some-model"),
    ):
        with pytest.raises(OSError, match="cannot be reached"):
            enc.fit(TEXTS if isinstance(enc, TransformerTextEncoder) else IMAGES)


def test_cached_hub_name_resolves_to_snapshot(monkeypatch, tiny_text_model):
    import huggingface_hub

    def cached(name, local_files_only=False, **kwargs):
        assert name == "org/tiny" and local_files_only
        return tiny_text_model

    monkeypatch.setattr(huggingface_hub, "snapshot_download", cached)
    enc = TransformerTextEncoder("org/tiny").fit(TEXTS)
    assert enc.model_path_ == "org/tiny"  # portable reference
    assert enc.weights_sha256_ == file_sha256(tiny_text_model)
    reference = TransformerTextEncoder(tiny_text_model).fit(TEXTS).transform(TEXTS)
    np.testing.assert_array_equal(enc.transform(TEXTS), reference)


def test_relative_weights_path_is_recorded_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_torchvision_weights(tmp_path / "w.pth", "resnet18")
    enc = TorchvisionImageEncoder(weights="w.pth", size=32).fit(IMAGES)
    assert enc.model_path_ == str(tmp_path / "w.pth")
    expected = enc.transform(IMAGES)
    blob = pickle.dumps(enc)
    monkeypatch.chdir(os.path.dirname(tmp_path))  # elsewhere, as another process
    clear_resource_cache()
    np.testing.assert_array_equal(pickle.loads(blob).transform(IMAGES), expected)


def test_failed_refit_keeps_previous_state(tiny_text_model, tmp_path):
    enc = TransformerTextEncoder(tiny_text_model).fit(TEXTS)
    before = enc.transform(TEXTS)
    state = dict(vars(enc))
    enc.set_params(model_name_or_path=str(tmp_path))  # an empty directory
    with pytest.raises(OSError, match="could not load"):
        enc.fit(TEXTS)
    assert {k: v for k, v in vars(enc).items() if k.endswith("_")} == {
        k: v for k, v in state.items() if k.endswith("_")
    }
    np.testing.assert_array_equal(enc.transform(TEXTS), before)


def test_pooling_vocabulary(tiny_text_model, tiny_vit):
    out = {
        p: TransformerTextEncoder(tiny_text_model, pooling=p, normalize=False)
        .fit(TEXTS)
        .transform(TEXTS)
        for p in ("mean", "max", "cls")
    }
    assert (out["max"] >= out["mean"] - 1e-6).all()
    assert not np.allclose(out["cls"], out["mean"])
    vit = {
        p: TransformerImageEncoder(tiny_vit, pooling=p).fit(IMAGES).transform(IMAGES)
        for p in ("mean", "max", "cls")
    }
    assert (vit["max"] >= vit["mean"] - 1e-6).all()
    with pytest.raises(ValueError, match="'pooling' parameter"):
        TransformerAudioEncoder("x", pooling="cls").fit([np.ones(400)])


# -- torchvision weight enums: torch's hub cache, weights_only=True ----------------
@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    import torch.hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def _enum_file(hub_dir):
    from torchvision.models import ResNet18_Weights

    url = ResNet18_Weights.IMAGENET1K_V1.url
    return hub_dir / os.path.basename(url)


def test_torchvision_enum_offline_says_pass_a_local_file(hub_dir, monkeypatch):
    import torch.hub

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    enc = TorchvisionImageEncoder("resnet18", weights="DEFAULT")
    with pytest.raises(OSError, match="weights not available offline: pass a local"):
        enc.fit(IMAGES)
    assert not hasattr(enc, "n_features_out_")


def test_torchvision_enum_loaded_from_cache_safely(hub_dir, monkeypatch):
    import torch.hub

    monkeypatch.setattr(
        torch.hub,
        "download_url_to_file",
        lambda *a, **k: pytest.fail("the cached file must be used"),
    )
    hub_dir.mkdir(parents=True)
    path = make_torchvision_weights(_enum_file(hub_dir), "resnet18", random_state=5)
    enc = TorchvisionImageEncoder("resnet18", weights="DEFAULT").fit(IMAGES)
    assert enc.model_path_ == str(path)
    assert enc.weights_sha256_ == file_sha256(path)
    out = enc.transform(IMAGES)
    assert out.shape == (3, 512)
    # Same weights read as a local file, with the enum's preprocessing: identical.
    from torchvision.models import ResNet18_Weights, resnet18

    net = resnet18()
    net.load_state_dict(torch.load(path, weights_only=True))
    net.fc = torch.nn.Identity()
    net.eval()
    transform = ResNet18_Weights.IMAGENET1K_V1.transforms()
    from skmm.encoders import decode_image

    batch = torch.stack([transform(decode_image(c, mode="RGB")) for c in IMAGES])
    with torch.inference_mode():
        ref = net(batch).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_torchvision_planted_cache_file_runs_no_code(hub_dir, tmp_path):

    hub_dir.mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"fc.weight": _Payload(str(marker))}, _enum_file(hub_dir))
    with pytest.raises(ValueError, match="cannot read a state_dict"):
        TorchvisionImageEncoder("resnet18", weights="DEFAULT").fit(IMAGES)
    assert not marker.exists()


def test_parallel_decoding_sees_sklearn_config():
    """n_jobs workers run through sklearn.utils.parallel: the config reaches them."""

    def working_memory(cell):
        return sklearn.get_config()["working_memory"]

    with sklearn.config_context(working_memory=123):
        out = load_cells(working_memory, list(range(6)), range(6), n_jobs=2)
    assert out == [123] * 6
