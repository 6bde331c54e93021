"""Discover skmm's public estimators (the way :mod:`sklearn.utils.discovery` does)."""

import importlib
import inspect
import pkgutil
from operator import itemgetter

from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClusterMixin,
    RegressorMixin,
    TransformerMixin,
)

__all__ = ["all_estimators"]

_TYPES = {
    "classifier": ClassifierMixin,
    "regressor": RegressorMixin,
    "transformer": TransformerMixin,
    "cluster": ClusterMixin,
}


def _public_modules():
    import skmm

    for info in pkgutil.walk_packages(skmm.__path__, prefix="skmm."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or "tests" in parts:
            continue
        yield info.name


def all_estimators(type_filter=None):
    """List every public estimator class of skmm.

    An estimator is public when its class is exported by a public module (no
    leading underscore in the module path or class name) and is not abstract.

    Parameters
    ----------
    type_filter : {"classifier", "regressor", "transformer", "cluster"} or list \
            of them, default=None
        Keep only estimators of these kinds.

    Returns
    -------
    estimators : list of (str, type) tuples
        Class names and classes, sorted by name.

    Examples
    --------
    >>> from skmm.utils.discovery import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> "MultimodalEncoder" in names
    True
    """
    found = {}
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if name.startswith("_") or not cls.__module__.startswith("skmm."):
                continue
            if not issubclass(cls, BaseEstimator) or inspect.isabstract(cls):
                continue
            found[name] = cls
    estimators = sorted(found.items(), key=itemgetter(0))
    if type_filter is None:
        return estimators
    filters = [type_filter] if isinstance(type_filter, str) else list(type_filter)
    unknown = set(filters) - set(_TYPES)
    if unknown:
        raise ValueError(
            f"type_filter must be None or among {sorted(_TYPES)}; "
            f"got {sorted(unknown)}."
        )
    return [
        (name, cls)
        for name, cls in estimators
        if any(issubclass(cls, _TYPES[f]) for f in filters)
    ]
