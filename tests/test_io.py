"""Tests of skmm.io: the safe model format (no code on load, checksummed)."""

import json
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

# The common-test harness's small, seeded instances of every public estimator.
from test_common import NUMERIC, RAW, _raw_data

import skmm.io
from skmm.compose import MultimodalEncoder
from skmm.encoders import MFCCEncoder
from skmm.exceptions import ModelFileError, UntrustedTypesError
from skmm.fusion import FusionClassifier, FusionRegressor
from skmm.io._api import MAGIC, _frame
from skmm.utils.discovery import all_estimators


def _numeric_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 6)).astype(np.float32)
    y_class = np.where(X[:, 0] + X[:, 3] > 0, "yes", "no")
    y_reg = X[:, 0] - 2 * X[:, 4]
    return X, y_class, y_reg


def _outputs(est, X):
    if hasattr(est, "predict_proba"):
        return est.predict_proba(X)
    if hasattr(est, "predict"):
        return est.predict(X)
    out = est.transform(X)
    return out.to_numpy() if hasattr(out, "to_numpy") else np.asarray(out)


def _assert_same_outputs(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "fc":
        np.testing.assert_array_equal(a, b)  # NaN == NaN here
    else:
        assert a.tolist() == b.tolist()


def test_every_public_estimator_is_covered():
    covered = {type(e).__name__ for e in NUMERIC + RAW}
    assert covered == {name for name, _ in all_estimators()}


@pytest.mark.parametrize("estimator", NUMERIC, ids=lambda e: type(e).__name__)
def test_numeric_estimators_round_trip(estimator, tmp_path):
    estimator = clone(estimator)  # the instances are shared with test_common
    X, y_class, y_reg = _numeric_data()
    y = y_reg if is_regressor(estimator) else y_class
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        estimator.fit(X, y)
    path = tmp_path / "model.skmm"
    skmm.io.dump(estimator, path)
    restored = skmm.io.load(path)
    assert type(restored) is type(estimator)
    assert (
        restored.get_params(deep=False).keys()
        == estimator.get_params(deep=False).keys()
    )
    _assert_same_outputs(_outputs(restored, X), _outputs(estimator, X))
    if is_classifier(estimator):
        assert restored.classes_.tolist() == estimator.classes_.tolist()
    # unfitted estimators round-trip too
    unfitted = skmm.io.loads(skmm.io.dumps(clone(estimator)))
    assert not any(k.endswith("_") and not k.startswith("_") for k in vars(unfitted))


@pytest.mark.parametrize("estimator", RAW, ids=lambda e: type(e).__name__)
def test_raw_estimators_round_trip(estimator):
    estimator = clone(estimator)  # the instances are shared with test_common
    X, y = _raw_data(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        estimator.fit(X, y)
        restored = skmm.io.loads(skmm.io.dumps(estimator))
        expected = estimator.transform(X)
        got = restored.transform(X)
    if isinstance(expected, list):  # loaders return decoded items
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    else:
        _assert_same_outputs(_outputs(restored, X), _outputs(estimator, X))


def _raw_pipeline():
    sr = 8000
    rng = np.random.default_rng(0)
    n = 24
    t = np.arange(sr // 4) / sr
    waves = [
        (0.3 * np.sin(2 * np.pi * (300 + 200 * (i % 2)) * t)).astype(np.float32)
        + 0.01 * rng.standard_normal(t.size).astype(np.float32)
        for i in range(n)
    ]
    words = ["red cat", "blue dog"]
    X = pd.DataFrame(
        {
            "text": [words[i % 2] + f" {i}" if i % 5 else None for i in range(n)],
            "audio": [w if i % 6 != 1 else None for i, w in enumerate(waves)],
        }
    )
    y = np.array(["cat", "dog"])[np.arange(n) % 2]
    model = make_pipeline(
        MultimodalEncoder(
            [
                ("text", TfidfVectorizer(), "text"),
                (
                    "audio",
                    MFCCEncoder(sr=sr, n_mfcc=8, n_mels=16, n_fft=256, hop_length=128),
                    "audio",
                ),
            ]
        ),
        FusionClassifier(
            "gated", hidden_size=8, max_epochs=5, random_state=0, early_stopping=True
        ),
    )
    return model.fit(X, y), X, y


def test_raw_multimodal_pipeline_round_trip(tmp_path):
    model, X, y = _raw_pipeline()
    path = tmp_path / "pipe.skmm"
    skmm.io.dump(model, path)
    restored = skmm.io.load(path)
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    assert restored.predict(X).tolist() == model.predict(X).tolist()
    enc = restored[0]
    # shared references stay shared
    assert enc.named_encoders_["text"] is enc.encoders_[0][1]
    # the restored pipeline can be refitted
    restored.fit(X, y)


def test_fusion_regressor_and_gpu_trained_model_load_on_cpu():
    X, _, y = _numeric_data()
    model = FusionRegressor(hidden_size=8, max_epochs=5, random_state=0).fit(X, y)
    expected = model.predict(X)
    # Simulate a model trained on CUDA: the estimator and its net say "cuda"
    # (tensors are always written from the CPU).
    model.device = "cuda"
    model.net_.device = "cuda"
    data = skmm.io.dumps(model)
    with pytest.warns(UserWarning, match="device='cpu'"):
        restored = skmm.io.loads(data)
    assert restored.device == "cpu" and restored.net_.device == "cpu"
    assert next(restored.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(restored.predict(X), expected)
    restored.set_params(max_epochs=2).fit(X, y)  # refits on the CPU


def test_tensors_are_stored_as_safetensors_and_structure_as_json():
    model, _, _ = _raw_pipeline()
    data = skmm.io.dumps(model)
    assert data.startswith(MAGIC)
    n_json = int.from_bytes(data[8:16], "little")
    document = json.loads(data[16 : 16 + n_json])
    assert document["format"] == "skmm.io"
    assert set(document["versions"]) >= {"skmm", "sklearn", "torch"}
    text = json.dumps(document)
    assert "FusionNetwork" in text and "TfidfVectorizer" in text
    from safetensors.numpy import load

    rest = data[16 + n_json :]
    n_tensors = int.from_bytes(rest[:8], "little")
    arrays = load(rest[8 : 8 + n_tensors])
    assert any(a.ndim == 2 and a.dtype == np.float32 for a in arrays.values())


# ---------------------------------------------------------------------------
# corruption and tampering
# ---------------------------------------------------------------------------
def _fitted_small():
    X, y, _ = _numeric_data()
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X


def test_single_bit_corruptions_are_detected():
    model, _ = _fitted_small()
    data = skmm.io.dumps(model)
    rng = np.random.default_rng(0)
    positions = rng.choice(len(data) * 8, size=60, replace=False)
    for bit in positions:
        corrupt = bytearray(data)
        corrupt[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ModelFileError):
            skmm.io.loads(bytes(corrupt))
    with pytest.raises(ModelFileError, match="checksum"):
        skmm.io.loads(data[:-40] + data[-39:] + b"\x00")
    with pytest.raises(ModelFileError):
        skmm.io.loads(data[:-1])


def _forge(document, arrays=b""):
    """A well-formed file with a valid checksum around ``document``."""
    return _frame(json.dumps(document).encode(), arrays)


def _payloads(target):
    command = f"touch {target}"
    call = {
        "$": "partial",
        "func": {"$": "function", "module": "os", "qualname": "system"},
        "args": {"$": "tuple", "items": [command]},
        "keywords": {"$": "dict", "items": []},
    }
    yield {
        "$": "object",
        "class": {
            "module": "sklearn.preprocessing._function_transformer",
            "qualname": "FunctionTransformer",
        },
        "state": {"func": call},
    }
    # a class whose construction would run code
    yield {
        "$": "object",
        "class": {"module": "subprocess", "qualname": "Popen"},
        "state": {"args": command},
    }
    # reach os.system through a trusted module's namespace
    yield {"$": "function", "module": "skmm.io._api", "qualname": "os.system"}
    yield {"$": "type", "module": "sklearn", "qualname": "__builtins__"}
    # a trusted package's helper that runs a Python script when called
    yield {
        "$": "object",
        "class": {
            "module": "sklearn.preprocessing._function_transformer",
            "qualname": "FunctionTransformer",
        },
        "state": {
            "func": {
                **call,
                "func": {
                    "$": "function",
                    "module": "sklearn.utils._testing",
                    "qualname": "assert_run_python_script_without_output",
                },
                "args": {"$": "tuple", "items": [f"open({str(target)!r}, 'w')"]},
            }
        },
    }
    # skorch's __setstate__ unpickles the "cuda dependent attributes" blob (the
    # hole skops leaves open): a pickle that runs a command, as an array
    yield {
        "$": "object",
        "class": {"module": "skmm.fusion._training", "qualname": "SkmmNet"},
        "state": {
            "device": "cpu",
            "torch_load_kwargs": {"$": "dict", "items": [["weights_only", False]]},
            "__cuda_dependent_attributes__": {"$": "ndarray", "key": "blob"},
        },
    }


class _Command:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


def test_crafted_payload_is_refused_and_runs_no_code(tmp_path):
    import pickle

    from safetensors.numpy import save

    target = tmp_path / "pwned"
    blob = np.frombuffer(pickle.dumps(_Command(f"touch {target}")), dtype=np.uint8)
    arrays = save({"blob": blob.copy()})
    for payload in _payloads(target):
        document = {"format": "skmm.io", "format_version": 1, "model": payload}
        path = tmp_path / "evil.skmm"
        path.write_bytes(_forge(document, arrays))
        with pytest.raises(ModelFileError):
            skmm.io.load(path)
        assert not target.exists()
    # and the attack as joblib would have run it: skmm.io refuses pickles
    evil = FunctionTransformer(print)
    joblib.dump(evil, tmp_path / "model.joblib")
    with pytest.raises(ModelFileError, match="pickle"):
        skmm.io.load(tmp_path / "model.joblib")


def test_untrusted_types_listed_and_trusted_extends_allow_list(tmp_path):
    def halve(X):
        return X / 2

    model = make_pipeline(FunctionTransformer(_double), LogisticRegression())
    X, y, _ = _numeric_data()
    model.fit(X, y)
    data = skmm.io.dumps(model)
    name = f"{__name__}._double"
    assert skmm.io.get_untrusted_types(data=data) == [name]
    with pytest.raises(UntrustedTypesError) as info:
        skmm.io.loads(data)
    assert info.value.types == [name]
    for trusted in ([_double], [name]):
        restored = skmm.io.loads(data, trusted=trusted)
        np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    # objects without an importable name cannot be written at all
    with pytest.raises(ModelFileError, match="local"):
        skmm.io.dumps(FunctionTransformer(halve))
    with pytest.raises(ModelFileError, match="lambda"):
        skmm.io.dumps(FunctionTransformer(lambda X: X))


def _double(X):
    return 2 * X


def test_unsupported_attribute_is_named(tmp_path):
    model = StandardScaler()
    model.handle_ = open(tmp_path / "f.txt", "w")
    try:
        with pytest.raises(ModelFileError, match=r"model\.handle_"):
            skmm.io.dumps(model)
    finally:
        model.handle_.close()


def test_dump_is_atomic_and_load_refuses_special_files(tmp_path, monkeypatch):
    import os

    model, _ = _fitted_small()
    path = tmp_path / "m.skmm"
    skmm.io.dump(model, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        skmm.io.dump(LogisticRegression(), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.skmm"]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        with pytest.raises(ModelFileError, match="FIFO"):
            skmm.io.load(tmp_path / "fifo")


def test_loading_keeps_the_callers_torch_random_stream():
    import torch

    X, y, _ = _numeric_data()
    data = skmm.io.dumps(FusionClassifier(hidden_size=4, max_epochs=2).fit(X, y))
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    skmm.io.loads(data)
    assert torch.equal(torch.rand(3), expected)


def test_ensemble_of_fusion_networks_round_trip():
    from skmm.ensemble import ModalityBaggingClassifier

    X, y, _ = _numeric_data()
    model = ModalityBaggingClassifier(
        estimator=FusionClassifier(hidden_size=4, max_epochs=3, random_state=0),
        n_estimators=2,
        random_state=0,
    ).fit(X, y)
    restored = skmm.io.loads(skmm.io.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    nets = {id(e.net_.module_) for e in restored.estimators_}
    assert len(nets) == 2


def test_generic_serializer_on_sklearn_internals():
    """No per-estimator code: ColumnTransformer, sparse text features, selectors,
    histogram gradient boosting's predictors and forests' tree tables."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "c": rng.choice(["a", "b", "c"], 50),
            "n": rng.standard_normal(50),
            "t": [f"w{i} x" for i in rng.integers(0, 5, 50)],
        }
    )
    y = rng.integers(0, 2, 50)
    columns = ColumnTransformer(
        [
            ("oh", OneHotEncoder(), ["c"]),
            ("sc", StandardScaler(), ["n"]),
            ("cv", CountVectorizer(), "t"),
        ]
    )
    for final in (
        HistGradientBoostingClassifier(max_iter=5),
        RandomForestClassifier(5, random_state=0),
    ):
        model = make_pipeline(columns, SelectKBest(f_classif, k=3), final).fit(X, y)
        restored = skmm.io.loads(skmm.io.dumps(model))
        np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
