"""scikit-learn's own ensemble tests, run against skmm's subclasses.

The installed scikit-learn wheel ships ``sklearn/ensemble/tests``. Its
``test_bagging.py``, ``test_stacking.py`` and ``test_weight_boosting.py`` are
loaded here with skmm's classes substituted for scikit-learn's:
``BaggingClassifier``/``BaggingRegressor`` -> ``ModalityBagging*``,
``StackingClassifier``/``StackingRegressor`` -> ``ModalityStacking*``,
``AdaBoostClassifier`` -> ``MultimodalAdaBoostClassifier``. The substitution
happens while the test module is imported (so module-level parametrizations
get skmm's classes too) and the names are rebound in the loaded module
afterwards. ``AdaBoostRegressor`` has no skmm counterpart and stays
scikit-learn's.

Every test is collected here as ``test_{file}__{test}``. The differences that
remain are listed in ``EXPECTED_FAILURES`` with their reason, in the style of
``parametrize_with_checks(expected_failed_checks=...)``: they are marked
``xfail`` (a test that starts passing shows up as XPASS). They are documented
for users in ``docs/user_guide/ensembles.rst``.
"""

import importlib.util
import pathlib
import re
from unittest import mock

import pytest
import sklearn
import sklearn.ensemble

from skmm.ensemble import (
    ModalityBaggingClassifier,
    ModalityBaggingRegressor,
    ModalityStackingClassifier,
    ModalityStackingRegressor,
    MultimodalAdaBoostClassifier,
)

SKLEARN_TESTS = pathlib.Path(sklearn.__file__).parent / "ensemble" / "tests"

SUBSTITUTES = {
    "bagging": {
        "BaggingClassifier": ModalityBaggingClassifier,
        "BaggingRegressor": ModalityBaggingRegressor,
    },
    "stacking": {
        "StackingClassifier": ModalityStackingClassifier,
        "StackingRegressor": ModalityStackingRegressor,
    },
    "weight_boosting": {"AdaBoostClassifier": MultimodalAdaBoostClassifier},
}

_NAMES = (
    "the error message names skmm's class (e.g. 'ModalityBaggingClassifier') "
    "where the test matches scikit-learn's class name"
)

#: (file, test function, parameter-id regex or None) -> reason.
EXPECTED_FAILURES = {}


def _expect(file, test, reason, params=None):
    EXPECTED_FAILURES[(file, test, params)] = reason


_expect(
    "bagging",
    "test_warning_bootstrap_sample_weight",
    _NAMES + " (the warning is the parent's, formatted with the subclass name).",
)
_expect(
    "bagging",
    "test_invalid_sample_weight_max_samples_bootstrap_combinations",
    _NAMES + " (the bootstrap=False warning).",
)
_expect(
    "stacking",
    "test_get_feature_names_out",
    "output feature names are prefixed with the lowercased class name, "
    "'modalitystackingclassifier_lr0' where the test expects "
    "'stackingclassifier_lr0' (scikit-learn's own naming, applied to the "
    "subclass).",
)
_expect(
    "stacking",
    "test_stacking_final_estimator_attribute_error",
    _NAMES + " (\"This 'ModalityStackingClassifier' has no attribute\").",
)
_expect(
    "stacking",
    "test_stacking_without_n_features_in",
    "skmm's stacking validates X itself (raw tables, modality layout), so it "
    "knows n_features_in_ after fit even when its first member does not "
    "expose one; scikit-learn reads it from estimators_[0] and raises.",
)
_expect(
    "weight_boosting",
    "test_adaboostclassifier_without_sample_weight",
    "by design MultimodalAdaBoostClassifier accepts a base estimator without "
    "sample_weight (e.g. a Pipeline or a k-NN) and boosts it by weighted "
    "resampling (see its 'weighting' parameter); scikit-learn raises.",
)
_expect(
    "weight_boosting",
    "test_deprecated_algorithm",
    "scikit-learn 1.6/1.7 only: there, 'algorithm' is deprecated and warns; "
    "skmm's AdaBoost has its own, supported 'algorithm' ('SAMME' or the "
    "real-valued 'SAMME.R' over probability estimates), which does not warn.",
)


def _load(file):
    path = SKLEARN_TESTS / f"test_{file}.py"
    if not path.exists():  # a wheel built without its tests
        return None
    spec = importlib.util.spec_from_file_location(f"_sklearn_suite_{file}", path)
    module = importlib.util.module_from_spec(spec)
    with mock.patch.multiple(sklearn.ensemble, **SUBSTITUTES[file]):
        spec.loader.exec_module(module)
    for name, cls in SUBSTITUTES[file].items():
        setattr(module, name, cls)
    return module


for _file in SUBSTITUTES:
    _module = _load(_file)
    if _module is None:
        continue
    for _name, _test in vars(_module).items():
        if _name.startswith("test_") and callable(_test):
            globals()[f"test_{_file}__{_name[5:]}"] = _test


@pytest.fixture
def global_random_seed():
    """scikit-learn's conftest parametrizes this seed; its default is 42."""
    return 42


@pytest.fixture(autouse=True)
def _expected_failures(request):
    match = re.match(r"test_(\w+?)__(\w+)", request.node.originalname)
    if match is None:
        return
    file, test = match.group(1), "test_" + match.group(2)
    params = request.node.name[len(request.node.originalname) :]
    for (f, t, pattern), reason in EXPECTED_FAILURES.items():
        if f == file and t == test and (pattern is None or re.search(pattern, params)):
            request.applymarker(pytest.mark.xfail(reason=reason, strict=False))
