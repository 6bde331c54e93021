"""A per-process cache for heavy resources (pretrained backbones, tokenizers).

Encoders reference pretrained models by path or name; clones and pickles carry only
that reference, and every process loads each model once.
"""

import hashlib
import os
import threading
from collections import OrderedDict

__all__ = [
    "clear_resource_cache",
    "file_sha256",
    "get_resource",
    "path_stamp",
    "weights_fingerprint",
]

_CACHE = OrderedDict()
_LOCK = threading.RLock()
_MAX_ITEMS = 8
_FINGERPRINTS = {}


def get_resource(key, loader):
    """Return the cached resource for ``key``, loading it with ``loader()`` once.

    Parameters
    ----------
    key : hashable
        Identifies the resource (class, path or name, options, device).
    loader : callable
        Called without arguments on a cache miss.

    Examples
    --------
    >>> from skmm.utils._cache import get_resource, clear_resource_cache
    >>> get_resource(("demo", 1), lambda: [1, 2])
    [1, 2]
    >>> clear_resource_cache()
    """
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    value = loader()
    with _LOCK:
        _CACHE[key] = value
        _CACHE.move_to_end(key)
        while len(_CACHE) > _MAX_ITEMS:
            _CACHE.popitem(last=False)
    return value


def clear_resource_cache():
    """Forget every cached resource (frees memory; the next use reloads)."""
    with _LOCK:
        _CACHE.clear()


def path_stamp(path):
    """Cheap fingerprint (names, sizes, mtimes) of a file or a directory's files.

    Put it in a :func:`get_resource` key so that a model re-saved at the same path
    is reloaded instead of served stale from the cache.

    Examples
    --------
    >>> import tempfile
    >>> from skmm.utils._cache import path_stamp
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path_stamp(d)
    ()
    """
    if not os.path.exists(path):
        return ()
    if not os.path.isdir(path):
        stat = os.stat(path)
        return ((os.path.basename(path), stat.st_size, stat.st_mtime_ns),)
    stamp = []
    for root, _, files in sorted(os.walk(path)):
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name))
            stamp.append(
                (
                    os.path.relpath(os.path.join(root, name), path),
                    stat.st_size,
                    stat.st_mtime_ns,
                )
            )
    return tuple(stamp)


def file_sha256(path, chunk_size=1 << 20):
    """SHA-256 of a file, or of a directory's files (sorted), as a hex string.

    Examples
    --------
    >>> import tempfile, os
    >>> from skmm.utils._cache import file_sha256
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with open(os.path.join(d, "w.bin"), "wb") as f:
    ...         _ = f.write(b"abc")
    ...     file_sha256(os.path.join(d, "w.bin"))[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for root, _, files in sorted(os.walk(path)):
            for name in sorted(files):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode())
                with open(full, "rb") as f:
                    for chunk in iter(lambda: f.read(chunk_size), b""):
                        digest.update(chunk)
        return digest.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_fingerprint(path):
    """SHA-256 of a weights file or model directory, memoised per file stamp.

    The one fingerprint of skmm's pretrained encoders (their ``weights_sha256_``
    attribute). The digest is recomputed only when the files' names, sizes or
    modification times change (:func:`path_stamp`), so repeated fits of the same
    model (cross-validation, grid search) hash it once per process.

    Parameters
    ----------
    path : str or path-like
        A file, or a directory (all files below it, sorted, names included).

    Returns
    -------
    sha256 : str
        Hex digest, as :func:`file_sha256`.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmm.utils._cache import weights_fingerprint
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with open(os.path.join(d, "w.bin"), "wb") as f:
    ...         _ = f.write(b"abc")
    ...     weights_fingerprint(os.path.join(d, "w.bin"))[:12]
    'ba7816bf8f01'
    """
    path = os.path.abspath(os.fspath(path))
    key = (path, path_stamp(path))
    with _LOCK:
        if key in _FINGERPRINTS:
            return _FINGERPRINTS[key]
    digest = file_sha256(path)
    with _LOCK:
        if len(_FINGERPRINTS) > 256:
            _FINGERPRINTS.clear()
        _FINGERPRINTS[key] = digest
    return digest
