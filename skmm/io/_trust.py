"""Which types and functions a model file may name: the allow-list."""

import importlib
import inspect

import numpy as np

from skmm.exceptions import ModelFileError

__all__ = ["DEFAULT_TRUSTED", "is_trusted", "qualified_name", "resolve", "trust_set"]

#: Packages whose classes and functions are trusted by default (their own code).
_TRUSTED_PACKAGES = ("skmm", "sklearn")

#: Further modules (and their submodules) whose classes are trusted: the
#: ecosystem pieces a fitted skmm model holds (skorch callbacks, splits and
#: history; torch optimizer, loss and layer classes named as parameters).
_TRUSTED_MODULES = (
    "skorch.callbacks",
    "skorch.dataset",
    "skorch.history",
    "skorch.net",
    "skorch.classifier",
    "skorch.regressor",
    "numpy.random",
    "torch.optim",
    "torch.nn.modules",
)

#: Individual trusted names.
_TRUSTED_NAMES = frozenset(
    {
        "builtins.print",  # skorch's default log sink
        "builtins.int",
        "builtins.float",
        "builtins.complex",
        "builtins.bool",
        "builtins.str",
        "builtins.bytes",
        "builtins.object",
        "builtins.list",
        "builtins.tuple",
        "builtins.dict",
        "builtins.set",
        "builtins.frozenset",
        "collections.OrderedDict",
    }
)

#: Human-readable summary, for documentation and error messages.
DEFAULT_TRUSTED = (
    "classes of skmm and scikit-learn, functions of their estimator modules "
    "(metrics, feature selection, preprocessing); skorch callbacks, datasets, "
    "splits, history and nets; torch optimizer, loss and layer classes (as "
    "parameters); numpy scalar types and ufuncs; builtin types; print"
)


def qualified_name(obj):
    """``"module.qualname"`` of a class or function (None if it has none)."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(obj, np.ufunc):
        module, qualname = "numpy", obj.__name__
    if not module or not qualname or "<" in qualname:
        return None
    return f"{module}.{qualname}"


def _in(module, packages):
    return any(module == p or module.startswith(p + ".") for p in packages)


#: Submodules of the trusted packages that are never trusted by default: test
#: helpers (``sklearn.utils._testing`` runs Python scripts), command line and
#: I/O code.
_EXCLUDED_MODULES = (
    "sklearn.utils._testing",
    "sklearn.utils.estimator_checks",
    "sklearn.utils._test_common",
    "sklearn.externals",
    "sklearn.datasets",
    "sklearn.utils._joblib",
    "skmm.utils._testing",
    "skmm.utils.estimator_checks",
    "skmm._cli",
    "skmm._demo",
    "skmm.io",
)

#: Modules whose *functions* are trusted by default (score functions, kernels,
#: metrics a fitted estimator may hold). Classes are trusted package-wide.
_FUNCTION_MODULES = (
    "skmm.encoders",
    "skmm.compose",
    "skmm.fusion",
    "skmm.alignment",
    "skmm.ensemble",
    "skmm.utils._contract",
    "skmm.utils._layout",
    "skmm.utils._torch",
    "sklearn.metrics",
    "sklearn.feature_selection",
    "sklearn.feature_extraction",
    "sklearn.preprocessing",
    "sklearn.utils.validation",
)


def is_default_trusted(module, qualname, *, function=False):
    """Whether ``module.qualname`` is trusted without ``trusted=``.

    Classes of skmm and scikit-learn are trusted (except their test, dataset
    download and I/O modules); functions only from the modules of
    :data:`_FUNCTION_MODULES` -- a function can be called with the data later,
    so the bar is higher.
    """
    name = f"{module}.{qualname}"
    if name in _TRUSTED_NAMES:
        return True
    if _in(module, _EXCLUDED_MODULES) or "._" + "testing" in module:
        return False
    if function:
        return _in(module, _FUNCTION_MODULES) or _numpy_name(module, qualname)
    if _in(module, _TRUSTED_PACKAGES) or _in(module, _TRUSTED_MODULES):
        return True
    return _numpy_name(module, qualname)


def _numpy_name(module, qualname):
    if module == "numpy" and "." not in qualname:
        value = getattr(np, qualname, None)
        return isinstance(value, np.ufunc) or (
            isinstance(value, type) and issubclass(value, np.generic)
        )
    return False


def trust_set(trusted):
    """Normalise ``trusted=``: a set of ``"module.qualname"`` strings."""
    if trusted is None:
        return frozenset()
    if isinstance(trusted, (str, type)) or callable(trusted):
        trusted = [trusted]
    names = set()
    for entry in trusted:
        if isinstance(entry, str):
            names.add(entry)
            continue
        name = qualified_name(entry)
        if name is None:
            raise TypeError(
                f"trusted entries must be classes, functions or 'module.qualname' "
                f"strings; got {entry!r}."
            )
        names.add(name)
    return frozenset(names)


def is_trusted(module, qualname, extra, *, function=False):
    return (
        is_default_trusted(module, qualname, function=function)
        or f"{module}.{qualname}" in extra
    )


def resolve(module, qualname):
    """Import a trusted name; it must really be defined there (no aliases).

    ``sklearn.base.os.system`` would otherwise reach ``os.system`` through a
    trusted module's imports: the object found must report the same module
    and qualified name it was looked up by.
    """
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise ModelFileError(f"malformed type name {module!r}.{qualname!r}")
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ModelFileError(
            f"the model file names {module}.{qualname}, which does not exist here "
            f"({type(exc).__name__}: {exc}); is the same version of its package "
            "installed?"
        ) from None
    found = qualified_name(obj)
    if found != f"{module}.{qualname}" or inspect.ismodule(obj):
        raise ModelFileError(
            f"the model file names {module}.{qualname}, which resolves to "
            f"{found or type(obj).__name__}; refused (only objects defined under "
            "the name they are stored by can be loaded)"
        )
    return obj
