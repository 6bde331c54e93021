"""Common checks over every public skmm estimator, found by discovery.

* Estimators that take a numeric 2-D X run scikit-learn's own
  ``parametrize_with_checks``; each expected failure carries its reason.
* Raw-input estimators (text, image paths, waveforms, raw tables), which
  sklearn's checks skip, run skmm's conformance checks
  (:mod:`skmm.utils.estimator_checks`) on raw data of their modality.

A new public estimator is picked up automatically: it is built with defaults
unless ``INIT_PARAMS`` gives small, seeded settings for it.
"""

import tempfile
import warnings

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmm.utils import _testing
from skmm.utils.discovery import all_estimators
from skmm.utils.estimator_checks import (
    make_raw_column,
    make_raw_table,
    raw_estimator_checks,
)

_MODELS = tempfile.mkdtemp(prefix="skmm-test-models-")


def _model(builder):
    """Build a tiny random model once per session, offline."""
    cache = {}

    def get():
        if "path" not in cache:
            cache["path"] = getattr(_testing, builder)(f"{_MODELS}/{builder}")
        return cache["path"]

    return get


_tiny_text = _model("make_tiny_text_model")
_tiny_vit = _model("make_tiny_vit")
_tiny_wav2vec2 = _model("make_tiny_wav2vec2")

#: Small, seeded constructor parameters (a dict, or a callable returning one).
INIT_PARAMS = {
    "AudioLoader": {"sr": 8000},
    "MelSpectrogramEncoder": {
        "sr": 8000,
        "n_mels": 16,
        "n_fft": 256,
        "hop_length": 128,
        "duration": 0.25,
    },
    "MFCCEncoder": {
        "sr": 8000,
        "n_mfcc": 8,
        "n_mels": 16,
        "n_fft": 256,
        "hop_length": 128,
    },
    "TransformerAudioEncoder": lambda: {"model_name_or_path": _tiny_wav2vec2()},
    "ImageLoader": {"size": 8},
    "PixelEncoder": {"size": (8, 8), "batch_size": 4},
    "TorchvisionImageEncoder": {
        "model": "resnet18",
        "size": 32,
        "batch_size": 4,
        "random_state": 0,
    },
    "TransformerImageEncoder": lambda: {
        "model_name_or_path": _tiny_vit(),
        "batch_size": 4,
    },
    "EnsembleSelectionClassifier": lambda: {
        "estimators": [("tree", _tree(3)), ("nb", _naive_bayes())],
        "ensemble_size": 5,
        "cv": 3,
        "random_state": 0,
    },
    "ModalityBaggingClassifier": lambda: {
        "estimator": _tree(),
        "n_estimators": 5,
        "random_state": 0,
    },
    "ModalityBaggingRegressor": lambda: {
        "estimator": _tree(regressor=True),
        "n_estimators": 5,
        "random_state": 0,
    },
    "MultimodalAdaBoostClassifier": lambda: {
        "estimator": _tree(2),
        "experts": {"features": _tree(1)},
        "n_estimators": 5,
        "random_state": 0,
    },
    "ModalityExpertClassifier": lambda: {
        "estimator": _logreg(),
        "modality": "features",
    },
    "SnapshotEnsembleClassifier": lambda: {
        "estimator": _fusion(),
        "n_snapshots": 2,
        "cycle_epochs": 15,
        "random_state": 0,
    },
    "ModalityStackingClassifier": lambda: {
        "estimators": [("tree", _tree(3))],
        "experts": {"features": _tree(3, random_state=1)},
        "final_estimator": _logreg(),
        "cv": 3,
    },
    "ModalityStackingRegressor": lambda: {
        "estimators": [("tree", _tree(3, regressor=True))],
        "experts": {"features": _tree(3, regressor=True, random_state=1)},
        "final_estimator": _ridge(),
        "cv": 3,
    },
    "FusionClassifier": {
        "hidden_size": 16,
        "max_epochs": 30,
        "batch_size": 256,
        "lr": 1e-2,
        "dropout": 0.0,
        "random_state": 0,
    },
    "FusionRegressor": {
        "hidden_size": 16,
        "max_epochs": 30,
        "batch_size": 256,
        "lr": 1e-2,
        "dropout": 0.0,
        "random_state": 0,
    },
    # aligners need two modality blocks: plain numeric X is split into the
    # first column and the rest
    "CCAAligner": lambda: {"n_components": 1, "modalities": _two_blocks()},
    "ContrastiveAligner": lambda: _aligner_params(),
    "AdversarialAligner": lambda: _aligner_params(),
    "CycleAligner": lambda: _aligner_params(),
    "TransformerTextEncoder": lambda: {
        "model_name_or_path": _tiny_text(),
        "batch_size": 4,
    },
    "Corruption": {"corruption": "blur", "severity": 0.5, "random_state": 0},
    "ModalityCorruptor": {
        "column": "text",
        "corruption": "typos",
        "severity": 0.5,
        "random_state": 0,
    },
    "MultimodalEncoder": lambda: {
        "encoders": [
            ("text", _text_encoder(), "text"),
            ("image", "drop", "image"),
            ("audio", "drop", "audio"),
        ]
    },
}

#: Expected failures of sklearn's checks: {class name: {check name: reason}}.
EXPECTED_FAILED_CHECKS = {}


def _two_blocks():
    return {"a": slice(0, 1), "b": slice(1, None)}


def _aligner_params():
    return {
        "n_components": 2,
        "modalities": _two_blocks(),
        "hidden_size": 8,
        "max_epochs": 5,
        "batch_size": 256,
        "lr": 1e-2,
        "random_state": 0,
    }


def _logreg():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(solver="newton-cg")


def _ridge():
    from sklearn.linear_model import Ridge

    return Ridge()


def _naive_bayes():
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB()


def _tree(max_depth=None, *, regressor=False, random_state=0):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeRegressor if regressor else DecisionTreeClassifier
    return cls(max_depth=max_depth, random_state=random_state)


def _fusion():
    from skmm.fusion import FusionClassifier

    return FusionClassifier(
        hidden_size=16, batch_size=256, lr=2e-2, dropout=0.0, random_state=0
    )


def _text_encoder():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer()


def _instance(cls):
    params = INIT_PARAMS.get(cls.__name__, {})
    if callable(params):
        params = params()
    try:
        return cls(**params)
    except TypeError as exc:  # pragma: no cover - tells how to register
        raise TypeError(
            f"{cls.__name__} cannot be built with defaults; add small seeded "
            f"settings for it to INIT_PARAMS in tests/test_common.py ({exc})."
        ) from exc


def _is_raw(cls):
    est = _instance(cls)
    tags = est.__sklearn_tags__()
    return (not tags.input_tags.two_d_array) or tags.input_tags.string


ESTIMATORS = [cls for _, cls in all_estimators()]
NUMERIC = [_instance(cls) for cls in ESTIMATORS if not _is_raw(cls)]
RAW = [_instance(cls) for cls in ESTIMATORS if _is_raw(cls)]


def test_discovery_finds_every_subpackage():
    modules = {cls.__module__.split(".")[1] for cls in ESTIMATORS}
    assert {"compose", "encoders", "fusion", "ensemble", "alignment"} <= modules


def _expected_failed(est):
    """Reasoned expected failures: the class's own list plus any listed here."""
    own = getattr(type(est), "_EXPECTED_FAILED_CHECKS", {})
    return {**own, **EXPECTED_FAILED_CHECKS.get(type(est).__name__, {})}


if NUMERIC:

    @parametrize_with_checks(NUMERIC, expected_failed_checks=_expected_failed)
    def test_sklearn_compatible_estimator(estimator, check):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            check(estimator)


def _raw_data(est):
    if type(est).__name__ in ("MultimodalEncoder", "ModalityCorruptor"):
        return make_raw_table(8)
    modality = getattr(est, "_modality", None)
    return make_raw_column(modality, 8)


def _raw_cases():
    for est in RAW:
        X, y = _raw_data(est)
        for est_, check in raw_estimator_checks(est, X, y):
            name = check.func.__name__ if hasattr(check, "func") else check.__name__
            yield pytest.param(est_, check, id=f"{type(est_).__name__}-{name}")


@pytest.mark.parametrize("estimator, check", list(_raw_cases()))
def test_raw_estimator_conformance(estimator, check):
    check(estimator)
