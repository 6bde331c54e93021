"""A content-addressed cache of encoded cells, shared by folds, candidates and runs.

Encoding raw cells with a pretrained model dominates a multimodal grid search:
every fold of every candidate re-encodes the same texts, images and clips. The
cache here stores the encoded row of each cell under a key made of

* the **encoder**: its class, its parameters (except those that cannot change the
  output: ``n_jobs``, ``verbose``, ``batch_size``, ``errors``), its fitted state
  (every public attribute ending in ``_``, e.g. a vocabulary or the resolved model
  path), the fingerprint of its pretrained weights (:func:`weights_fingerprint`)
  and the versions of the libraries that compute encodings;
* the **cell content**: the text itself, the bytes of an array or a PIL image,
  or -- for a path to an image or audio file -- the bytes of the file (and its
  extension), never just the path.

So a changed file, a changed parameter or changed weights give a new key and are
re-encoded; nothing stale is returned. Entries are ``.npy`` files written
atomically (a temporary file in the same folder, then :func:`os.replace`), so
concurrent writers (joblib workers, several processes or machines sharing a
folder) never leave a partial entry: readers see the old entry, the new one or
none. A process also keeps recently used rows in memory.

Only transformers that map each row independently can be cached per cell (true
of every skmm encoder and of sklearn's fitted transformers). Rows that come out
all-NaN (a cell an encoder turned into "missing") are never stored.

The cache is used through :class:`skmm.compose.MultimodalEncoder` (``cache=``) or,
for a :class:`~skmm.encoders._base.BaseRawEncoder` subclass with a ``cache``
parameter, by its ``transform``.
"""

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import tempfile
import threading
import warnings
from collections import OrderedDict

import numpy as np

__all__ = [
    "EncodingCache",
    "cached_transform",
    "cell_key",
    "encoder_key",
    "fit_then_transform_ok",
    "resolve_cache",
    "weights_fingerprint",
]

#: Parameters that never change an encoder's output (execution settings).
IGNORED_PARAMS = frozenset({"n_jobs", "verbose", "batch_size", "errors", "cache"})
#: Libraries whose version is part of every key (an upgrade may change encodings).
_LIBRARIES = (
    "numpy",
    "scikit-learn",
    "torch",
    "torchvision",
    "transformers",
    "librosa",
    "soundfile",
    "Pillow",
)
#: Fitted attributes naming the pretrained weights' fingerprint, in order of trust.
_FINGERPRINT_ATTRS = ("weights_fingerprint_", "weights_sha256_", "model_sha256_")
_FORMAT = "v1"
_CHUNK = 1 << 20


class _Uncacheable(Exception):
    """A cell or an encoder whose content cannot be keyed (computed, not cached)."""


# -- keys --------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _library_versions():
    from skmm import __version__

    versions = {"skmm": __version__}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


_DIR_SHA = {}
_DIR_SHA_LOCK = threading.Lock()


def _directory_sha256(path):
    """sha256 of a model directory, recomputed when a file's size or mtime changes."""
    from skmm.utils._cache import file_sha256, path_stamp

    stamp = path_stamp(path)
    with _DIR_SHA_LOCK:
        known = _DIR_SHA.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
    sha = file_sha256(path)
    with _DIR_SHA_LOCK:
        _DIR_SHA[path] = (stamp, sha)
    return sha


def weights_fingerprint(encoder):
    """The fingerprint of a fitted encoder's pretrained weights, or None.

    The encoder's own recorded fingerprint is used when it has one (the first
    of ``weights_fingerprint_``, ``weights_sha256_``, ``model_sha256_``, or any
    fitted attribute ending in ``sha256_`` / ``fingerprint_``). Otherwise, for an
    encoder that resolved a local model directory (``model_path_``), the sha256 of
    that directory's files. Encoders without pretrained weights give None.

    Parameters
    ----------
    encoder : estimator
        A fitted encoder.

    Returns
    -------
    fingerprint : str or None

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skmm.utils._encoding_cache import weights_fingerprint
    >>> weights_fingerprint(StandardScaler()) is None
    True
    """
    for attr in _FINGERPRINT_ATTRS:
        value = getattr(encoder, attr, None)
        if value is not None:
            return str(value)
    state = getattr(encoder, "__dict__", {})
    for attr in sorted(state):
        if attr.endswith(("sha256_", "fingerprint_")) and state[attr] is not None:
            return str(state[attr])
    path = getattr(encoder, "model_path_", None)
    if isinstance(path, (str, os.PathLike)) and os.path.isdir(path):
        return _directory_sha256(os.fspath(path))
    return None


def encoder_key(encoder):
    """Hex key of what determines a fitted encoder's output for a given cell.

    Parameters
    ----------
    encoder : estimator
        A fitted transformer.

    Returns
    -------
    key : str

    Raises
    ------
    ValueError
        If the encoder's parameters or fitted state cannot be hashed (e.g. a
        lambda parameter); such an encoder cannot be cached.

    Examples
    --------
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from skmm.utils._encoding_cache import encoder_key
    >>> a = encoder_key(TfidfVectorizer().fit(["a cat", "a dog"]))
    >>> b = encoder_key(TfidfVectorizer().fit(["a cat", "a bird"]))
    >>> a == b
    False
    """
    import joblib

    params = {
        k: v
        for k, v in encoder.get_params(deep=False).items()
        if k not in IGNORED_PARAMS
    }
    transient = set(getattr(encoder, "_transient", ()))
    fitted = {
        k: v
        for k, v in vars(encoder).items()
        if k.endswith("_") and not k.startswith("_") and k not in transient
    }
    cls = type(encoder)
    try:
        return joblib.hash(
            (
                _FORMAT,
                f"{cls.__module__}.{cls.__qualname__}",
                params,
                fitted,
                weights_fingerprint(encoder),
                _library_versions(),
            )
        )
    except Exception as exc:  # pickling errors of arbitrary parameters
        raise ValueError(
            f"{cls.__name__} cannot be cached: its parameters or fitted state "
            f"cannot be hashed ({type(exc).__name__}: {exc})."
        ) from exc


def _hash_file(digest, path):
    if not os.path.isfile(path):  # missing file, FIFO, directory: the encoder says
        raise _Uncacheable(path)
    digest.update(b"file:")
    digest.update(os.path.splitext(os.fspath(path))[1].lower().encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)


def _hash_cell(digest, cell, files):
    if isinstance(cell, str):
        if files:
            _hash_file(digest, cell)
        else:
            digest.update(b"str:")
            digest.update(cell.encode("utf-8", "surrogatepass"))
    elif isinstance(cell, os.PathLike):
        _hash_file(digest, cell)
    elif isinstance(cell, (bytes, bytearray, memoryview)):
        digest.update(b"bytes:")
        digest.update(bytes(cell))
    elif isinstance(cell, np.ndarray):
        if cell.dtype.hasobject:
            raise _Uncacheable("object array")
        digest.update(f"array:{cell.dtype.str}:{cell.shape}:".encode())
        digest.update(np.ascontiguousarray(cell).tobytes())
    elif isinstance(cell, tuple):
        digest.update(f"tuple:{len(cell)}:".encode())
        for item in cell:
            _hash_cell(digest, item, files)
    elif isinstance(cell, (bool, int, float, np.generic)):
        digest.update(f"scalar:{type(cell).__name__}:{cell!r}".encode())
    elif type(cell).__module__.startswith("PIL."):
        digest.update(f"pil:{cell.mode}:{cell.size}:".encode())
        digest.update(cell.tobytes())
        info = {
            k: v for k, v in getattr(cell, "info", {}).items() if k in ("exif", "icc")
        }
        digest.update(repr(sorted(info.items())).encode())
        exif = cell.getexif() if hasattr(cell, "getexif") else None
        if exif:  # orientation changes what encoders see
            digest.update(repr(sorted(exif.items())).encode())
    else:
        raise _Uncacheable(type(cell).__name__)


def _cells_are_files(encoder):
    """Whether ``str`` cells are file paths (image/audio) rather than texts."""
    return getattr(encoder, "_modality", None) in ("image", "audio")


def cell_key(cell, *, files=False):
    """Hex key of a cell's content, or None if the cell cannot be keyed.

    Parameters
    ----------
    cell : object
        A raw cell: text, path, array, PIL image, ``(waveform, rate)`` tuple.
    files : bool, default=False
        Whether ``str`` cells are paths whose file *bytes* are the content (image
        and audio encoders) rather than texts.

    Returns
    -------
    key : str or None

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.utils._encoding_cache import cell_key
    >>> cell_key("a cat") == cell_key("a cat"), cell_key("a cat") == cell_key("a dog")
    (True, False)
    >>> cell_key(np.zeros(3)) == cell_key(np.zeros(3, dtype=np.float32))
    False
    """
    digest = hashlib.blake2b(digest_size=20)
    try:
        _hash_cell(digest, cell, files)
    except (_Uncacheable, OSError):
        return None
    return digest.hexdigest()


# -- storage -----------------------------------------------------------------------
class _Memory:
    """Rows recently read or written, per process, bounded in bytes."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self.rows = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            row = self.rows.get(key)
            if row is not None:
                self.rows.move_to_end(key)
            return row

    def put(self, key, row):
        with self.lock:
            if key in self.rows:
                return
            self.rows[key] = row
            self.size += row.nbytes
            while self.size > self.max_bytes and self.rows:
                _, old = self.rows.popitem(last=False)
                self.size -= old.nbytes

    def clear(self):
        with self.lock:
            self.rows.clear()
            self.size = 0


_MEMORY = _Memory(max_bytes=int(os.environ.get("SKMM_CACHE_MEMORY_MB", "256")) << 20)


class EncodingCache:
    """A folder of encoded cells (see the module docstring).

    Parameters
    ----------
    location : str or path-like
        The folder; created on first write. Entries live under
        ``location/skmm_encodings/``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from skmm.utils._encoding_cache import EncodingCache
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     cache = EncodingCache(tmp)
    ...     enc = TfidfVectorizer().fit(["a red cat", "a blue dog"])
    ...     first = cache.transform(enc, ["a red cat", "a blue dog"])
    ...     again = cache.transform(enc, ["a blue dog"])
    ...     same = bool((first[1] == again[0]).all())
    >>> same, cache.stats["hits"], cache.stats["misses"]
    (True, 1, 2)
    """

    def __init__(self, location):
        self.location = os.fspath(location)
        self.root = os.path.join(self.location, "skmm_encodings", _FORMAT)
        self.stats = {"hits": 0, "misses": 0, "uncacheable": 0}

    def __repr__(self):
        return f"EncodingCache({self.location!r})"

    # pickled into joblib workers without the statistics
    def __getstate__(self):
        return {"location": self.location}

    def __setstate__(self, state):
        self.__init__(state["location"])

    def _path(self, enc_key, key):
        return os.path.join(self.root, enc_key[:2], enc_key, key[:2], key + ".npy")

    def _read(self, enc_key, key, n_features):
        mem_key = (self.root, enc_key, key)
        row = _MEMORY.get(mem_key)
        if row is not None:
            return row
        try:
            row = np.load(self._path(enc_key, key), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # absent, or unreadable: recomputed and rewritten
        if row.dtype != np.float32 or row.ndim != 1:
            return None
        if n_features is not None and row.shape != (n_features,):
            return None
        row.flags.writeable = False
        _MEMORY.put(mem_key, row)
        return row

    def _write(self, enc_key, key, row):
        row = np.array(row, dtype=np.float32)
        row.flags.writeable = False
        _MEMORY.put((self.root, enc_key, key), row)
        path = self._path(enc_key, key)
        folder = os.path.dirname(path)
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    np.save(f, row, allow_pickle=False)
                os.replace(tmp, path)
            except BaseException:
                with _suppress_os_error():
                    os.unlink(tmp)
                raise
        except OSError as exc:  # full or read-only disk: keep working, uncached
            _warn_once(
                f"skmm encoding cache: cannot write to {self.location!r} ({exc})"
            )

    def _describe(self, enc_key, encoder):
        path = os.path.join(self.root, enc_key[:2], enc_key, "encoder.json")
        if os.path.exists(path):
            return
        info = {
            "encoder": f"{type(encoder).__module__}.{type(encoder).__qualname__}",
            "params": {k: repr(v) for k, v in encoder.get_params(deep=False).items()},
            "weights_fingerprint": weights_fingerprint(encoder),
            "versions": _library_versions(),
        }
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
            with os.fdopen(fd, "w") as f:
                json.dump(info, f, indent=1)
            os.replace(tmp, path)
        except OSError:
            pass

    # -- the one entry point ---------------------------------------------------------
    def transform(self, encoder, cells, *, transform=None):
        """``encoder.transform(cells)``, reading and storing rows in the cache.

        Only the cells not in the cache are passed to ``transform`` (in their
        original order); an :class:`~skmm.exceptions.InvalidSampleError` raised
        for them has its sample index mapped back to ``cells``.

        Parameters
        ----------
        encoder : estimator
            A fitted transformer mapping each cell to one row independently.
        cells : list
            Raw cells (present ones; missing cells are the caller's business).
        transform : callable, default=None
            Computes the rows of a list of cells; ``encoder.transform`` by
            default.

        Returns
        -------
        Xt : ndarray of shape (len(cells), n_features), dtype=float32
        """
        transform = encoder.transform if transform is None else transform
        cells = list(cells)
        if not cells:
            return _as_float_matrix(transform(cells), 0)
        try:
            enc_key = encoder_key(encoder)
        except ValueError as exc:
            _warn_once(str(exc))
            self.stats["uncacheable"] += len(cells)
            return _as_float_matrix(transform(cells), len(cells))
        files = _cells_are_files(encoder)
        keys = [cell_key(cell, files=files) for cell in cells]
        n_features = _n_features(encoder)
        rows = [
            None if key is None else self._read(enc_key, key, n_features)
            for key in keys
        ]
        todo = [i for i, row in enumerate(rows) if row is None]
        self.stats["hits"] += len(cells) - len(todo)
        self.stats["misses"] += sum(keys[i] is not None for i in todo)
        self.stats["uncacheable"] += sum(keys[i] is None for i in todo)
        if not todo:
            return np.vstack(rows)
        with _remap_sample_error(todo):
            computed = _as_float_matrix(transform([cells[i] for i in todo]), len(todo))
        widths = {row.shape[0] for row in rows if row is not None}
        if widths - {computed.shape[1]}:
            raise RuntimeError(
                f"{type(encoder).__name__} returned {computed.shape[1]} features; "
                f"its cached rows have {widths.pop()}."
            )
        written = False
        for k, i in enumerate(todo):
            row = computed[k]
            rows[i] = row
            if keys[i] is not None and not np.isnan(row).all():
                self._write(enc_key, keys[i], row)
                written = True
        if written:
            self._describe(enc_key, encoder)
        return np.vstack(rows).astype(np.float32, copy=False)


@contextlib.contextmanager
def _remap_sample_error(positions):
    """Map an InvalidSampleError's index among the computed cells back to ``cells``."""
    from skmm.exceptions import InvalidSampleError

    try:
        yield
    except InvalidSampleError as exc:
        index = exc.index
        if index is None or not 0 <= index < len(positions):
            raise
        raise InvalidSampleError(
            exc.reason,
            index=int(positions[index]),
            source=exc.source,
            column=exc.column,
            row=getattr(exc, "row", None),
        ) from exc


def _n_features(encoder):
    n = getattr(encoder, "n_features_out_", None)
    if n is not None:
        return int(n)
    try:
        return len(encoder.get_feature_names_out())
    except Exception:
        return None


def _as_float_matrix(Xt, n_rows):
    import scipy.sparse as sp

    if sp.issparse(Xt):
        Xt = Xt.toarray()
    elif hasattr(Xt, "to_numpy"):
        Xt = Xt.to_numpy()
    Xt = np.asarray(Xt, dtype=np.float32)
    if Xt.ndim == 1:
        Xt = Xt.reshape(-1, 1)
    if Xt.shape[0] != n_rows:
        raise ValueError(f"transform returned {Xt.shape[0]} rows for {n_rows} cells.")
    return Xt


class _suppress_os_error:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return exc_type is not None and issubclass(exc_type, OSError)


_WARNED = set()


def _warn_once(message):
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, UserWarning, stacklevel=3)


def resolve_cache(cache):
    """Turn a ``cache`` parameter into an :class:`EncodingCache` (or None).

    Parameters
    ----------
    cache : None, str, path-like, joblib.Memory or EncodingCache
        ``None`` (or a ``joblib.Memory`` without a location): no cache. A folder,
        or a ``joblib.Memory`` whose ``location`` is used.

    Returns
    -------
    cache : EncodingCache or None

    Examples
    --------
    >>> from skmm.utils._encoding_cache import resolve_cache
    >>> resolve_cache(None) is None
    True
    >>> resolve_cache("/tmp/enc")
    EncodingCache('/tmp/enc')
    """
    if cache is None or isinstance(cache, EncodingCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        return EncodingCache(cache)
    location = getattr(cache, "location", _MISSING)
    if location is not _MISSING and hasattr(cache, "cache"):  # joblib.Memory
        return None if location is None else EncodingCache(location)
    raise ValueError(
        "cache must be None, a folder path, a joblib.Memory or an EncodingCache; "
        f"got {cache!r}."
    )


_MISSING = object()


def cached_transform(encoder, cells, cache, *, transform=None):
    """Encode ``cells`` with a fitted ``encoder`` through ``cache`` (may be None).

    Parameters
    ----------
    encoder : estimator
        A fitted transformer that maps each cell to one row independently.
    cells : list
        Raw cells.
    cache : None, str, path-like, joblib.Memory or EncodingCache
        See :func:`resolve_cache`. ``None`` just calls ``transform``.
    transform : callable, default=None
        Computes rows for a list of cells (``encoder.transform`` by default).

    Returns
    -------
    Xt : ndarray of shape (len(cells), n_features)

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.feature_extraction.text import CountVectorizer
    >>> from skmm.utils._encoding_cache import cached_transform
    >>> enc = CountVectorizer().fit(["a cat", "a dog"])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     cached_transform(enc, ["the cat", "dog dog"], tmp).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    resolved = resolve_cache(cache)
    if resolved is None:
        transform = encoder.transform if transform is None else transform
        return transform(cells)
    return resolved.transform(encoder, cells, transform=transform)


def fit_then_transform_ok(encoder):
    """Whether ``fit(X).transform(X)`` equals ``fit_transform(X)`` for ``encoder``.

    True for skmm's encoders, sklearn's text vectorizers and any transformer that
    inherits :class:`~sklearn.base.TransformerMixin`'s ``fit_transform``; False for
    transformers with their own ``fit_transform`` (e.g. cross-fitted
    :class:`~sklearn.preprocessing.TargetEncoder`), whose training rows are then
    encoded without the cache.

    Examples
    --------
    >>> from sklearn.preprocessing import TargetEncoder
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from skmm.utils._encoding_cache import fit_then_transform_ok
    >>> fit_then_transform_ok(TfidfVectorizer()), fit_then_transform_ok(TargetEncoder())
    (True, False)
    """
    from sklearn.base import TransformerMixin
    from sklearn.feature_extraction.text import _VectorizerMixin

    from skmm.encoders._base import BaseRawEncoder

    if isinstance(encoder, (BaseRawEncoder, _VectorizerMixin)):
        return True
    method = getattr(type(encoder), "fit_transform", None)
    return method is TransformerMixin.fit_transform


def clear_memory():
    """Forget the rows this process holds in memory (the folder is untouched)."""
    _MEMORY.clear()
