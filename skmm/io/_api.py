"""skmm.io.dump / load: the container, its checksum and the public functions.

File layout (all integers little-endian)::

    magic      8 bytes   b"SKMMIO\\x00\\x01"
    n_json     8 bytes   length of the JSON document
    json       n_json    UTF-8 JSON: versions + the object tree
    n_tensors  8 bytes   length of the safetensors blob
    tensors    n_tensors safetensors (numeric arrays and tensors, no code)
    sha256     32 bytes  SHA-256 of everything above

The checksum is verified before anything is parsed; then every class and
function the tree names is checked against the allow-list before anything is
built. Nothing is ever unpickled or evaluated.
"""

import hashlib
import json
import os
import tempfile
import warnings

import numpy as np

from skmm.exceptions import ModelFileError, UntrustedTypesError
from skmm.io._serialize import Decoder, Encoder
from skmm.io._trust import trust_set

__all__ = ["dump", "dumps", "get_untrusted_types", "load", "loads"]

MAGIC = b"SKMMIO\x00\x01"
FORMAT_VERSION = 1
_DIGEST = 32
_LEN = 8


def _versions():
    import sklearn
    import torch

    import skmm

    return {
        "skmm": skmm.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__.split("+")[0],
    }


def dumps(model):
    """Serialize ``model`` to bytes in the safe format (see :func:`dump`).

    Parameters
    ----------
    model : object
        A (fitted or not) estimator, or any graph of estimators, arrays,
        tensors and plain data.

    Returns
    -------
    data : bytes
        The file content :func:`dump` would write: a JSON description of the
        model and its arrays in safetensors format, with a SHA-256 checksum.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skmm.io import dumps, loads
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> loads(dumps(model)).predict([[0.9]]).tolist()
    [1]
    """
    from safetensors.numpy import save

    encoder = Encoder()
    try:
        tree = encoder.encode(model)
    except TypeError as exc:
        raise ModelFileError(
            f"Cannot store the model in the safe format: {exc}"
        ) from None
    document = {
        "format": "skmm.io",
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "model": tree,
    }
    text = json.dumps(document, allow_nan=False, separators=(",", ":")).encode()
    tensors = save(encoder.arrays) if encoder.arrays else b""
    return _frame(text, tensors)


def _frame(text, tensors):
    """The file layout: magic, JSON, safetensors, SHA-256 of all that."""
    body = (
        MAGIC
        + len(text).to_bytes(_LEN, "little")
        + text
        + len(tensors).to_bytes(_LEN, "little")
        + tensors
    )
    return body + hashlib.sha256(body).digest()


def dump(model, path):
    """Save a model in skmm's safe format: data, not code.

    Parameters and structure are stored as JSON, arrays and tensors as
    safetensors, and a SHA-256 checksum covers the whole file. Loading it
    (:func:`load`) never unpickles or evaluates anything, and builds only
    allow-listed classes. Use it to share models; ``joblib`` remains fine for
    files you wrote yourself.

    The file is written atomically (a temporary file in the same folder, then
    renamed), so an interrupted dump never leaves a truncated model.

    Parameters
    ----------
    model : estimator
        Any skmm or scikit-learn estimator, pipeline or ensemble, fitted or not.
        Fitted state is stored generically: numpy arrays, torch tensors and
        skorch nets (module rebuilt from its constructor arguments, weights
        from its state dict), nested estimators and plain Python data.
    path : str or os.PathLike
        Destination file (conventionally ``*.skmm``).

    Raises
    ------
    ModelFileError
        If an attribute cannot be stored (a lambda, a local class, an open
        file, ...); the message names the attribute.

    See Also
    --------
    load : Read a model saved by this function.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> import skmm.io
    >>> model = make_pipeline(StandardScaler(), LogisticRegression())
    >>> model = model.fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skmm")
    >>> skmm.io.dump(model, path)
    >>> skmm.io.load(path).predict([[2.5]]).tolist()
    [1]
    """
    data = dumps(model)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".skmm-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _parse(data):
    """Check the container and checksum; return (document, arrays)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC) + 2 * _LEN + _DIGEST or not data.startswith(MAGIC):
        if data[:2] == b"\x80\x04" or data[:1] == b"\x80":
            hint = (
                " It looks like a pickle/joblib file: load those only if you trust "
                "them."
            )
        else:
            hint = ""
        raise ModelFileError(f"Not an skmm.io model file (bad header).{hint}")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise ModelFileError(
            "The model file is corrupted or was modified: its SHA-256 checksum does "
            "not match its content. Nothing was loaded."
        )
    pos = len(MAGIC)
    n_json = int.from_bytes(body[pos : pos + _LEN], "little")
    pos += _LEN
    text = body[pos : pos + n_json]
    pos += n_json
    n_tensors = int.from_bytes(body[pos : pos + _LEN], "little")
    pos += _LEN
    tensors = body[pos : pos + n_tensors]
    if len(text) != n_json or len(tensors) != n_tensors or pos + n_tensors != len(body):
        raise ModelFileError("Malformed skmm.io model file (inconsistent lengths).")
    try:
        document = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError(f"Malformed skmm.io model file: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != "skmm.io":
        raise ModelFileError("Malformed skmm.io model file (no format marker).")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"The model file has format version {version!r}; this skmm reads up to "
            f"{FORMAT_VERSION}. Upgrade skmm."
        )
    arrays = {}
    if tensors:
        from safetensors.numpy import load as load_tensors

        try:
            arrays = load_tensors(tensors)
        except Exception as exc:
            raise ModelFileError(f"Malformed tensor section: {exc}") from None
    return document, arrays


def _read(path):
    from skmm.utils._contract import open_regular_file

    try:
        fd = open_regular_file(path, what="model file")
    except ValueError as exc:
        raise ModelFileError(str(exc)) from None
    with os.fdopen(fd, "rb") as f:
        return f.read()


def get_untrusted_types(path=None, *, data=None):
    """List the types and functions of a model file not trusted by default.

    Check these before passing them as ``trusted=`` to :func:`load`.

    Parameters
    ----------
    path : str or os.PathLike, default=None
        The model file.
    data : bytes, default=None
        The file's content, instead of ``path``.

    Returns
    -------
    names : list of str
        ``"module.qualname"`` of each untrusted class or function, sorted.

    Examples
    --------
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from skmm.io import dumps, get_untrusted_types
    >>> import operator
    >>> get_untrusted_types(data=dumps(FunctionTransformer(operator.neg)))
    ['_operator.neg']
    """
    if (path is None) == (data is None):
        raise TypeError("pass exactly one of path or data")
    document, arrays = _parse(_read(path) if data is None else data)
    return Decoder(arrays, frozenset()).untrusted(document["model"])


def loads(data, *, trusted=None):
    """Load a model from bytes written by :func:`dumps` (see :func:`load`).

    Parameters
    ----------
    data : bytes
        The content written by :func:`dumps` (or of a file written by
        :func:`dump`).
    trusted : sequence of (type, function or str), default=None
        More classes or functions to allow, as objects or ``"module.qualname"``
        strings (see :func:`get_untrusted_types`).

    Returns
    -------
    model : object
        The model, rebuilt from data (nothing is unpickled or evaluated).

    Raises
    ------
    ModelFileError
        If ``data`` is not skmm.io content, is corrupted or modified
        (checksum), or is malformed.
    UntrustedTypesError
        If the content names classes or functions that are not trusted;
        nothing was built.

    Examples
    --------
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skmm.io import dumps, loads
    >>> tree = DecisionTreeClassifier(random_state=0).fit([[0], [1]], [0, 1])
    >>> loads(dumps(tree)).predict([[1]]).tolist()
    [1]
    """
    document, arrays = _parse(data)
    decoder = Decoder(arrays, trust_set(trusted))
    untrusted = decoder.untrusted(document["model"])
    if untrusted:
        raise UntrustedTypesError(untrusted)
    _check_versions(document.get("versions", {}))
    return decoder.decode(document["model"])


def load(path, *, trusted=None):
    """Load a model saved by :func:`dump`, running no code from the file.

    The SHA-256 checksum is verified first (a corrupted or modified file is
    refused); then every class and function the file names is checked against
    the allow-list -- skmm, scikit-learn and the skorch/torch/numpy pieces a
    fitted skmm model holds -- extended by ``trusted``; only then are objects
    built, from data: nothing is unpickled or evaluated. Tensors are loaded on
    the CPU; an estimator trained on a GPU that is not available here gets
    ``device="cpu"`` (with a warning).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`dump`.
    trusted : sequence of (type, function or str), default=None
        More classes or functions to allow, as objects or ``"module.qualname"``
        strings (see :func:`get_untrusted_types`), e.g. your own ``nn.Module``
        branch class or a ``FunctionTransformer``'s function.

    Returns
    -------
    model : object
        The model, rebuilt from data (nothing is unpickled or evaluated).

    Raises
    ------
    ModelFileError
        If the file is not an skmm.io file, is corrupted or modified (checksum),
        or is malformed.
    UntrustedTypesError
        If the file names classes or functions that are not trusted; nothing
        was built.

    Examples
    --------
    >>> import operator, os, tempfile
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> import skmm.io
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skmm")
    >>> skmm.io.dump(FunctionTransformer(operator.neg), path)
    >>> skmm.io.load(path)
    Traceback (most recent call last):
    ...
    skmm.exceptions.UntrustedTypesError: The model file uses 1 untrusted type(s) ...
    >>> skmm.io.get_untrusted_types(path)
    ['_operator.neg']
    >>> import numpy as np
    >>> skmm.io.load(path, trusted=[operator.neg]).transform(np.ones((1, 1))).tolist()
    [[-1.0]]
    """
    return loads(_read(path), trusted=trusted)


def _check_versions(saved):
    if not isinstance(saved, dict):
        return
    current = _versions()
    for package in ("skmm", "torch"):
        if saved.get(package) not in (None, current[package]):
            warnings.warn(
                f"The model was saved with {package} {saved[package]} and is loaded "
                f"with {current[package]}; outputs may differ.",
                UserWarning,
                stacklevel=3,
            )
