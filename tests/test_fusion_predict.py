"""The prediction path of the fusion networks: same outputs, same checks, fewer copies.

``FusionClassifier.predict_proba`` validates X once (one finiteness pass that
also finds the missing blocks), passes column views of the validated matrix to
the network and predicts in large batches. These tests pin down that every kind
of input (DataFrame, C- or F-ordered or read-only arrays, float64 or float32)
gives the outputs of a plain forward pass over contiguous tensors, and that no
check was weakened.
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.utils.validation import validate_data

from skmm.datasets import make_multimodal_classification
from skmm.exceptions import InvalidSampleError
from skmm.fusion import FusionClassifier, FusionRegressor
from skmm.fusion._network import BlockSpec, inference_batch_size, network_inputs
from skmm.utils import grid_feature_names, modality_presence
from skmm.utils._layout import block_index, nonfinite_rows, presence_from_nan

pytestmark = pytest.mark.filterwarnings(
    "ignore:X does not have valid feature names",
    "ignore:overflow encountered in cast:RuntimeWarning",
)

FAST = {"hidden_size": 8, "max_epochs": 2, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    X, y = make_multimodal_classification(n_samples=150, random_state=0)
    X = X.copy()
    X.iloc[::4, X.columns.str.startswith("image__")] = np.nan
    X.iloc[1::5, X.columns.str.startswith("text__")] = np.nan
    return X, y


def _reference_proba(clf, X):
    """A bare forward pass over contiguous tensors, in batches of 7 rows."""
    Xa = np.ascontiguousarray(X, dtype=np.float32)
    present = modality_presence(Xa, clf.modalities_)
    inputs = network_inputs(Xa, present, clf._blocks)
    inputs = {k: v.contiguous() for k, v in inputs.items()}
    module = clf.net_.module_.eval()
    with torch.no_grad():
        out = [
            module(**{k: v[s : s + 7] for k, v in inputs.items()})
            for s in range(0, len(Xa), 7)
        ]
    return torch.softmax(torch.cat(out).double(), dim=1).numpy()


def _variants(X):
    """The same data as a user may hand it over."""
    C = X.to_numpy(dtype=np.float64)
    readonly = np.ascontiguousarray(C, dtype=np.float32)
    readonly.flags.writeable = False
    return {
        "frame64": X,
        "frame32": X.astype(np.float32),
        "C64": C,
        "F32": np.asfortranarray(C, dtype=np.float32),
        "C32 read-only": readonly,
    }


@pytest.mark.parametrize("fusion", ["early", "attention"])
def test_every_input_kind_gives_the_bare_forward_outputs(data, fusion):
    X, y = data
    clf = FusionClassifier(fusion, **FAST).fit(X, y)
    expected = _reference_proba(clf, X)
    for name, Xv in _variants(X).items():
        original = np.array(Xv, copy=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no torch "not writable" warning
            warnings.filterwarnings("ignore", message="X does not have valid feature")
            proba = clf.predict_proba(Xv)
        np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(np.asarray(Xv), original)  # not written to


def test_grid_and_sequence_branches_take_column_major_frames():
    # DataFrames validate to column-major arrays; branches that reshape rows
    # (cnn, sequences) get contiguous batches, the MLP reads the view as is.
    rng = np.random.RandomState(0)
    n = 60
    image = ["image__" + c for c in grid_feature_names("px", (1, 4, 4))]
    audio = ["audio__" + c for c in grid_feature_names("mel", (5, 3))]
    text = [f"text__f{i}" for i in range(6)]
    X = pd.DataFrame(rng.normal(size=(n, 16 + 15 + 6)), columns=image + audio + text)
    X.iloc[::3, :16] = np.nan
    y = rng.randint(2, size=n)
    clf = FusionClassifier(branches={"image": "cnn", "audio": "gru"}, **FAST).fit(X, y)
    assert not np.asarray(X, dtype=np.float32).flags.c_contiguous
    np.testing.assert_allclose(
        clf.predict_proba(X), _reference_proba(clf, X), rtol=1e-5, atol=1e-6
    )


def test_non_consecutive_modality_columns(data):
    X, y = data
    Xa = X.to_numpy()
    order = np.random.RandomState(0).permutation(Xa.shape[1])
    inverse = np.argsort(order)
    layout = {
        m: inverse[np.flatnonzero(X.columns.str.startswith(m + "__"))]
        for m in ("text", "image", "audio")
    }
    Xp = Xa[:, order]
    assert not isinstance(block_index(layout["image"]), slice)
    clf = FusionClassifier(modalities=layout, **FAST).fit(Xp, y)
    np.testing.assert_allclose(
        clf.predict_proba(Xp), _reference_proba(clf, Xp), rtol=1e-5, atol=1e-6
    )


def test_regressor_predictions_do_not_depend_on_the_input_kind(data):
    X, y = data
    reg = FusionRegressor(**FAST).fit(X, y.astype(float))
    expected = reg.predict(X)
    for name, Xv in _variants(X).items():
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature")
            np.testing.assert_allclose(
                reg.predict(Xv), expected, rtol=1e-5, atol=1e-6, err_msg=name
            )


def test_inference_batch_size_bounds_memory_and_does_not_change_outputs(data):
    X, y = data
    clf = FusionClassifier(**FAST).fit(X, y)
    specs = clf._blocks
    rows = clf.net_.iterator_valid__batch_size
    assert rows == inference_batch_size(specs, 8, clf.batch_size) > 256
    proba = clf.predict_proba(X)
    clf.net_.iterator_valid__batch_size = 3
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-5, atol=1e-6)
    # heavy branches keep batches near the training size
    cnn = BlockSpec("image", np.arange(784), "cnn", (28, 28))
    assert inference_batch_size([cnn], 64, 32) == 256
    assert inference_batch_size(specs, 64, 10_000) == 10_000


# --------------------------------------------------------------------------
# the checks are those of validate_data and modality_presence
# --------------------------------------------------------------------------


def _sklearn_message(clf, X):
    with pytest.raises(ValueError) as info:
        validate_data(
            clf, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float32
        )
    return str(info.value)


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e300])
def test_inf_and_float32_overflow_get_sklearn_error(data, value):
    X, y = data
    clf = FusionClassifier(**FAST).fit(X, y)
    bad = X.copy()
    bad.iloc[3, 2] = value
    message = _sklearn_message(clf, bad)
    assert "infinity or a value too large" in message
    for method in (clf.predict, clf.predict_proba, clf.explain_fusion):
        with pytest.raises(ValueError, match=re.escape(message)):
            method(bad)
    # with missing blocks elsewhere too (the NaN path)
    bad.iloc[0, :] = np.nan
    bad.iloc[0, 0] = value
    with pytest.raises(ValueError, match="infinity or a value too large"):
        clf.predict_proba(bad.to_numpy())


def test_other_input_errors_unchanged(data):
    X, y = data
    clf = FusionClassifier(**FAST).fit(X, y)
    bad = X.copy()
    bad.iloc[7, 0] = np.nan  # part of the text block
    with pytest.raises(InvalidSampleError, match=r"sample 7.*'text'"):
        clf.predict_proba(bad)
    bad = X.copy()
    bad.iloc[9] = np.nan
    with pytest.raises(InvalidSampleError, match=r"sample 9.*all 3 modalities"):
        clf.predict(bad)
    renamed = X.rename(columns={X.columns[0]: "text__other"})
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(renamed)
    with pytest.raises(ValueError, match=r"X has 40 features, but .* expecting 48"):
        clf.predict(X.to_numpy()[:, :40])
    with pytest.raises(ValueError, match=r"could not convert|must be numeric"):
        clf.predict(X.astype(object).assign(**{X.columns[1]: "a"}))


def test_frames_of_any_dtype_take_the_same_checks(data):
    X, y = data
    clf = FusionClassifier(**FAST).fit(X, y)
    # plain numpy dtypes take the short route, extension dtypes the full one
    nullable = X.astype("Float64")
    assert nullable.isna().any(axis=None)
    np.testing.assert_allclose(
        clf.predict_proba(nullable), clf.predict_proba(X), rtol=1e-6
    )
    message = _sklearn_message(clf, X.iloc[:0])
    assert "0 sample(s)" in message
    with pytest.raises(ValueError, match=re.escape(message)):
        clf.predict(X.iloc[:0])
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict(X.iloc[:, ::-1])


# --------------------------------------------------------------------------
# presence from a NaN mask
# --------------------------------------------------------------------------


def _naive_presence(X, layout, partial):
    present = np.empty((X.shape[0], len(layout)), dtype=bool)
    for k, cols in enumerate(layout.values()):
        n_nan = np.isnan(X[:, cols]).sum(axis=1)
        present[:, k] = n_nan == 0 if partial == "raise" else n_nan < len(cols)
    return present


@pytest.mark.parametrize("order", ["C", "F"])
def test_presence_from_nan_matches_the_definition(order):
    rng = np.random.RandomState(0)
    X = np.asarray(rng.normal(size=(40, 9)), order=order)
    layout = {"a": np.arange(0, 4), "b": np.array([4, 6, 8]), "c": np.array([5, 7])}
    X[rng.rand(40) < 0.3, :4] = np.nan
    X[np.ix_(rng.rand(40) < 0.3, [4, 6, 8])] = np.nan
    X[np.ix_(rng.rand(40) < 0.3, [5, 7])] = np.nan
    for partial in ("raise", "present"):
        expected = _naive_presence(X, layout, partial)
        np.testing.assert_array_equal(
            modality_presence(X, layout, partial=partial), expected
        )
        np.testing.assert_array_equal(
            presence_from_nan(np.isnan(X), layout, partial=partial), expected
        )
    assert presence_from_nan(None, layout, n_samples=3).all()
    X[2, 5] = np.nan  # a partly missing block
    with pytest.raises(InvalidSampleError, match=r"sample 2.*1 of 2 features.*'c'"):
        presence_from_nan(np.isnan(X), layout)
    assert presence_from_nan(np.isnan(X), layout, partial="present")[2, 2]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_nonfinite_rows_finds_every_nan_and_inf(order, dtype):
    rng = np.random.RandomState(0)
    X = np.asarray(rng.normal(size=(301, 7)), order=order, dtype=dtype)
    assert nonfinite_rows(X).size == 0
    assert nonfinite_rows(X[:0]).size == 0
    assert nonfinite_rows(X[:, :0]).size == 0
    bad = X.copy(order=order)
    rows = np.sort(rng.choice(301, size=40, replace=False))
    cols = rng.randint(0, 7, size=40)
    values = rng.choice([np.nan, np.inf, -np.inf], size=40)
    bad[rows, cols] = values
    # +inf and -inf in one row (their sum is NaN) and a strided view
    bad[rows[0], :2] = [np.inf, -np.inf]
    np.testing.assert_array_equal(nonfinite_rows(bad), rows)
    np.testing.assert_array_equal(
        nonfinite_rows(bad[::2]), np.flatnonzero(~np.isfinite(bad[::2]).all(axis=1))
    )
    # finite values whose sum overflows are suspects, never misses
    big = X.copy(order=order)
    big[5, :] = np.finfo(dtype).max
    assert 5 in nonfinite_rows(big)
    with pytest.raises(ValueError, match="2-D float"):
        nonfinite_rows(np.ones((3, 2), dtype=int))


def test_presence_of_suspect_rows_names_the_row_of_x():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 9))
    layout = {"a": np.arange(0, 4), "b": np.array([4, 6, 8]), "c": np.array([5, 7])}
    X[[3, 17, 40], :4] = np.nan
    X[np.ix_([17, 30], [5, 7])] = np.nan
    rows = nonfinite_rows(X)
    np.testing.assert_array_equal(rows, [3, 17, 30, 40])
    np.testing.assert_array_equal(
        presence_from_nan(np.isnan(X[rows]), layout, n_samples=50, rows=rows),
        _naive_presence(X, layout, "raise"),
    )
    X[30, 4] = np.nan  # a partly missing block, in the row at position 30
    rows = nonfinite_rows(X)
    with pytest.raises(InvalidSampleError, match=r"sample 30: 1 of 3 features.*'b'"):
        presence_from_nan(np.isnan(X[rows]), layout, n_samples=50, rows=rows)
    with pytest.raises(ValueError, match="one row per entry"):
        presence_from_nan(np.isnan(X[:2]), layout, n_samples=50, rows=[1])


def test_aligners_share_the_prediction_time_validation(data):
    from skmm.alignment import ContrastiveAligner
    from skmm.alignment._base import _BaseAligner

    X, _ = data
    aligner = ContrastiveAligner(n_components=4, hidden_size=8, max_epochs=2)
    aligner.set_params(random_state=0).fit(X)
    expected = aligner.transform(X)
    for name, Xv in _variants(X).items():
        # the same matrix and presence as the generic validation
        X_new, present_new = aligner._validate_apply(Xv)
        X_old, present_old = _BaseAligner._validate_apply(aligner, Xv)
        np.testing.assert_array_equal(present_new, present_old, err_msg=name)
        np.testing.assert_array_equal(X_new, X_old, err_msg=name)
        np.testing.assert_allclose(
            aligner.transform(Xv), expected, rtol=1e-5, atol=1e-6, err_msg=name
        )
    bad = X.copy()
    bad.iloc[3, 2] = np.inf
    with pytest.raises(ValueError, match=re.escape(_sklearn_message(aligner, bad))):
        aligner.transform(bad)


class _CachingBranch(torch.nn.Module):
    """A user branch that keeps a tensor between calls (as HF rotary caches do)."""

    def __init__(self, input_size, input_shape, hidden_size, dropout=0.0):
        super().__init__()
        self.linear = torch.nn.Linear(input_size, 4)
        self.output_size = 4
        self.cache = None

    def forward(self, x):
        if self.cache is None or self.cache.shape[1] != 4:
            self.cache = torch.ones(1, 4)
        return torch.relu(self.linear(x)) * self.cache


def test_training_continues_after_prediction(data):
    from skmm.fusion._training import _inference_context

    X, y = data
    target = torch.from_numpy(np.asarray(y))
    own = FusionClassifier(**FAST).fit(X, y)
    # skmm's own modules: inference mode
    assert isinstance(_inference_context(own.net_.module_), torch.inference_mode)
    user = FusionClassifier(branches={"text": _CachingBranch}, **FAST).fit(X, y)
    user.net_.module_.branches[0].cache = None
    assert isinstance(_inference_context(user.net_.module_), torch.no_grad)
    for clf in (own, user):
        before = clf.predict_proba(X)
        # the cache (if any) was made by the prediction; a training step uses it
        clf.net_.partial_fit(clf._inputs(X), target, epochs=1)
        assert not np.allclose(clf.predict_proba(X), before)


def test_errors_name_the_dataframe_row_label(data):
    from skmm.alignment import ContrastiveAligner

    X, y = data
    X = X.set_axis([f"id-{i}" for i in range(len(X))])
    bad = X.copy()
    bad.iloc[7, 0] = np.nan  # part of the text block
    empty = X.copy()
    empty.iloc[9] = np.nan
    clf = FusionClassifier(**FAST).fit(X, y)
    with pytest.raises(InvalidSampleError, match=r"sample 7, row 'id-7'.*'text'"):
        clf.predict_proba(bad)
    with pytest.raises(InvalidSampleError, match=r"sample 9, row 'id-9'.*all 3"):
        clf.predict(empty)
    with pytest.raises(InvalidSampleError, match=r"sample 7, row 'id-7'"):
        FusionClassifier(**FAST).fit(bad, y)
    # an array has no labels: the position names the row
    with pytest.raises(InvalidSampleError, match=r"sample 7: "):
        clf.predict(bad.to_numpy())
    aligner = ContrastiveAligner(n_components=4, hidden_size=8, max_epochs=2)
    aligner.set_params(random_state=0).fit(X)
    with pytest.raises(InvalidSampleError, match=r"sample 7, row 'id-7'"):
        aligner.transform(bad)
