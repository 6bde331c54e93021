"""skmm.io stores the optimizers' state: training continues after loading.

A joblib round trip keeps a skorch net's optimizer (Adam's moments, step
counts, the current learning rates); so must the safe format, or training
continued after ``skmm.io.load`` (``net_.partial_fit``, or ``warm_start=True``)
would restart the optimizer and end somewhere else.
"""

import io
import json
import warnings

import joblib
import numpy as np
import pytest
import torch
from skorch.helper import SliceDict

import skmm.io
from skmm.alignment import AdversarialAligner, ContrastiveAligner
from skmm.exceptions import ModelFileError
from skmm.fusion import FusionClassifier, FusionRegressor
from skmm.fusion._network import network_inputs
from skmm.io._api import _frame


def _data(n=40, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 6).astype(np.float32)
    return X, (X[:, 0] + X[:, 3] > 0).astype(np.int64)


def _via_joblib(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def _via_skmm_io(model, tmp_path):
    path = tmp_path / "model.skmm"
    skmm.io.dump(model, path)
    return skmm.io.load(path)


def _assert_same_state(a, b):
    a, b = a.state_dict(), b.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for key, state in a["state"].items():
        assert state.keys() == b["state"][key].keys()
        for name, value in state.items():
            other = b["state"][key][name]
            if isinstance(value, torch.Tensor):
                assert value.dtype == other.dtype and value.shape == other.shape
                torch.testing.assert_close(value, other, rtol=0, atol=0)
            else:
                assert value == other


# -- fusion networks ------------------------------------------------------------
def _continue(model, X, y, how):
    """Train the loaded model's net 3 more epochs, seeded; its outputs after."""
    inputs = model._inputs(X)
    target = None if y is None else torch.from_numpy(y)
    torch.manual_seed(123)
    if how == "warm_start":
        model.net_.set_params(warm_start=True, max_epochs=3)
        model.net_.fit(inputs, target)
    else:
        model.net_.partial_fit(inputs, target, epochs=3)
    return model


@pytest.mark.parametrize("how", ["warm_start", "partial_fit"])
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_fusion_training_continues_after_load_as_after_joblib(optimizer, how, tmp_path):
    X, y = _data()
    model = FusionClassifier(
        hidden_size=8, max_epochs=4, optimizer=optimizer, lr=0.01, random_state=0
    ).fit(X, y)
    pickled = _via_joblib(model)
    loaded = _via_skmm_io(model, tmp_path)
    _assert_same_state(loaded.net_.optimizer_, model.net_.optimizer_)
    assert loaded.net_.optimizer_.state  # moments / momentum buffers are there
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))

    expected = _continue(pickled, X, y, how).predict_proba(X)
    got = _continue(loaded, X, y, how).predict_proba(X)
    np.testing.assert_array_equal(got, expected)
    # and training did move on (the comparison is not between two no-ops)
    assert not np.array_equal(got, model.predict_proba(X))
    _assert_same_state(loaded.net_.optimizer_, pickled.net_.optimizer_)


def test_continuation_with_a_learning_rate_schedule(tmp_path):
    """The schedule's position is recomputed from the stored history and the
    optimizer's learning rates come back: the same steps as after joblib."""
    from skorch.callbacks import LRScheduler

    X, y = _data()
    schedule = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    model = FusionClassifier(
        hidden_size=8,
        max_epochs=3,
        lr=0.02,
        callbacks=[("lr", schedule)],
        random_state=0,
    ).fit(X, y)
    assert model.net_.optimizer_.param_groups[0]["lr"] < 0.02
    pickled = _via_joblib(model)
    loaded = _via_skmm_io(model, tmp_path)
    expected = _continue(pickled, X, y, "warm_start")
    got = _continue(loaded, X, y, "warm_start")
    np.testing.assert_array_equal(got.predict_proba(X), expected.predict_proba(X))
    _assert_same_state(got.net_.optimizer_, expected.net_.optimizer_)


def test_a_fresh_optimizer_would_end_elsewhere(tmp_path):
    """What the test above guards against: Adam restarted from zero moments."""
    X, y = _data()
    model = FusionClassifier(hidden_size=8, max_epochs=4, lr=0.01, random_state=0)
    model.fit(X, y)
    pickled = _via_joblib(model)
    restarted = _via_skmm_io(model, tmp_path)
    restarted.net_.initialize_optimizer()
    expected = _continue(pickled, X, y, "partial_fit").predict_proba(X)
    got = _continue(restarted, X, y, "partial_fit").predict_proba(X)
    assert not np.array_equal(got, expected)


def test_learning_rate_changed_during_training_is_kept(tmp_path):
    X, _ = _data()
    target = X[:, 0] - X[:, 1]
    model = FusionRegressor(hidden_size=4, max_epochs=2, random_state=0).fit(X, target)
    for group in model.net_.optimizer_.param_groups:  # e.g. a scheduler's decay
        group["lr"] = 0.000123
    loaded = _via_skmm_io(model, tmp_path)
    assert [g["lr"] for g in loaded.net_.optimizer_.param_groups] == [0.000123]
    _assert_same_state(loaded.net_.optimizer_, model.net_.optimizer_)
    # the optimizer acts on the loaded module's parameters
    params = {id(p) for p in loaded.net_.module_.parameters()}
    groups = loaded.net_.optimizer_.param_groups
    assert {id(p) for g in groups for p in g["params"]} == params


# -- aligners -------------------------------------------------------------------
def _aligner_inputs(aligner, X):
    X, present = aligner._validate_apply(X)
    return SliceDict(**network_inputs(X, present, aligner._blocks))


@pytest.mark.parametrize("Aligner", [ContrastiveAligner, AdversarialAligner])
def test_aligner_training_continues_after_load_as_after_joblib(Aligner, tmp_path):
    X, _ = _data(48)
    aligner = Aligner(
        n_components=2,
        hidden_size=8,
        max_epochs=3,
        modalities={"a": [0, 1, 2], "b": [3, 4, 5]},
        random_state=0,
    ).fit(X)
    pickled = _via_joblib(aligner)
    loaded = _via_skmm_io(aligner, tmp_path)
    _assert_same_state(loaded.net_.optimizer_, aligner.net_.optimizer_)
    outputs = []
    for model in (pickled, loaded):
        torch.manual_seed(7)
        model.net_.partial_fit(_aligner_inputs(model, X), None, epochs=2)
        outputs.append(np.asarray(model.transform(X)))
    np.testing.assert_array_equal(outputs[1], outputs[0])
    assert not np.array_equal(outputs[1], np.asarray(aligner.transform(X)))


# -- files: tampering, crafted states, older files ------------------------------
def _split(data):
    n_json = int.from_bytes(data[8:16], "little")
    document = json.loads(data[16 : 16 + n_json])
    rest = data[16 + n_json : -32]
    n_tensors = int.from_bytes(rest[:8], "little")
    return document, rest[8 : 8 + n_tensors]


def _forge(document, arrays=b""):
    """A well-formed file with a valid checksum around ``document``."""
    return _frame(json.dumps(document).encode(), arrays)


def _net_node(tree):
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("$") == "skorch" and "optimizer_states" in node:
                return node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError("no skorch net in the file")


@pytest.fixture(scope="module")
def saved():
    X, y = _data()
    model = FusionClassifier(hidden_size=4, max_epochs=2, random_state=0).fit(X, y)
    return model, skmm.io.dumps(model), X


def test_optimizer_state_is_data_in_the_file(saved):
    _, data, _ = saved
    document, _ = _split(data)
    node = _net_node(document["model"])
    assert set(node["optimizer_states"]) == {"optimizer"}
    text = json.dumps(node["optimizer_states"])
    assert '"$": "tensor"' in text and "exp_avg_sq" in text and "betas" in text
    assert '"object"' not in text and '"function"' not in text


def test_tampered_optimizer_state_is_refused(saved):
    _, data, _ = saved
    document, _ = _split(data)
    text = json.dumps(document).encode()
    at = text.index(b"exp_avg_sq")
    corrupt = bytearray(data)
    corrupt[16 + at] ^= 0x01  # one bit of the optimizer state
    with pytest.raises(ModelFileError, match="checksum"):
        skmm.io.loads(bytes(corrupt))


def _state_node(document):
    """The optimizer's node: a dict node of "state" and "param_groups"."""
    return _net_node(document["model"])["optimizer_states"]["optimizer"]


def _items(node, key):
    return next(value for k, value in node["items"] if k == key)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.InconsistentVersionWarning")
def test_crafted_optimizer_states_are_refused(saved, tmp_path):
    _, data, _ = saved
    # an object (a trusted class) smuggled into the state
    document, arrays = _split(data)
    _state_node(document)["items"].append(
        [
            "extra",
            {
                "$": "object",
                "class": {
                    "module": "sklearn.preprocessing._data",
                    "qualname": "StandardScaler",
                },
                "state": {},
            },
        ]
    )
    with pytest.raises(ModelFileError, match=r"optimizer state.*StandardScaler"):
        skmm.io.loads(_forge(document, arrays))
    # a state that does not fit the parameters
    document, arrays = _split(data)
    groups = _items(_state_node(document), "param_groups")
    params = _items(groups["items"][0], "params")
    params["items"].pop()
    with pytest.raises(ModelFileError, match="does not fit its parameters"):
        skmm.io.loads(_forge(document, arrays))
    # not a state dict at all
    document, arrays = _split(data)
    _net_node(document["model"])["optimizer_states"]["optimizer"] = [1, 2]
    with pytest.raises(ModelFileError):
        skmm.io.loads(_forge(document, arrays))
    # an optimizer the net does not have
    document, arrays = _split(data)
    states = _net_node(document["model"])["optimizer_states"]
    states["other"] = states["optimizer"]
    with pytest.raises(ModelFileError, match="no optimizer 'other'"):
        skmm.io.loads(_forge(document, arrays))


def test_files_without_optimizer_state_still_load(saved):
    """Files written before optimizer states were stored: a fresh optimizer."""
    model, data, X = saved
    document, arrays = _split(data)
    del _net_node(document["model"])["optimizer_states"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = skmm.io.loads(_forge(document, arrays))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert not loaded.net_.optimizer_.state


class _NotesAdam(torch.optim.Adam):
    """An optimizer whose state dict holds an object besides data."""

    def state_dict(self):
        state = super().state_dict()
        state["note"] = object()
        return state


class _NumpyAdam(torch.optim.Adam):
    """An optimizer whose state dict holds numpy arrays (data, stored)."""

    def state_dict(self):
        state = super().state_dict()
        state["param_groups"][0]["trace"] = np.arange(3.0)
        return state


def test_optimizer_state_that_is_not_data_is_skipped_with_a_warning(tmp_path):
    X, y = _data()
    model = FusionClassifier(
        hidden_size=4, max_epochs=2, optimizer=_NotesAdam, random_state=0
    ).fit(X, y)
    with pytest.warns(UserWarning, match="optimizer state is not stored"):
        data = skmm.io.dumps(model)
    loaded = skmm.io.loads(data, trusted=[_NotesAdam])
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert not loaded.net_.optimizer_.state  # a fresh optimizer

    model.set_params(optimizer=_NumpyAdam).fit(X, y)
    loaded = skmm.io.loads(skmm.io.dumps(model), trusted=[_NumpyAdam])
    trace = loaded.net_.optimizer_.param_groups[0]["trace"]
    np.testing.assert_array_equal(trace, np.arange(3.0))
    assert loaded.net_.optimizer_.state
