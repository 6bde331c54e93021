"""One base for the encoders built on a pretrained network.

:class:`BasePretrainedEncoder` is shared by
:class:`~skmm.encoders.TransformerTextEncoder`,
:class:`~skmm.encoders.TransformerImageEncoder`,
:class:`~skmm.encoders.TransformerAudioEncoder` and
:class:`~skmm.encoders.TorchvisionImageEncoder`. It owns, once for all of them:

* **model resolution** (:func:`resolve_hf_model`): a local directory, or a
  Hugging Face hub name looked up in the local cache first; offline
  (``HF_HUB_OFFLINE=1`` or no route to the hub), an uncached hub name fails at
  once with a clear :class:`OSError` instead of retrying for a minute;
* **the weights fingerprint**: ``weights_sha256_``, the SHA-256 of the weights
  (model directory or weights file) recorded at ``fit``. A pickled or copied
  encoder reloads its network lazily, by reference, and refuses to run if the
  files changed in between, so a replaced model can never silently change the
  predictions of a saved pipeline;
* **the fitted attributes** ``model_path_`` (resolved reference), ``device_``
  (resolved torch device), ``weights_sha256_`` and ``n_features_out_``, and the
  output feature names ``emb0``, ``emb1``, ...;
* **pooling** (:func:`pool_tokens`: ``"mean"``, ``"max"``, ``"cls"`` over the
  valid positions) and ``normalize`` (L2, applied after pooling);
* **progress bars**: transformers' bars are silenced unless ``verbose``
  (:func:`skmm.utils._torch.hf_progress`);
* **error types**: invalid parameters raise sklearn's ``InvalidParameterError``;
  a model that cannot be found or loaded raises :class:`OSError`; a model that
  is loaded but unusable (wrong kind, wrong sample rate) or whose weights changed
  since ``fit`` raises :class:`ValueError`.

Subclasses implement ``_resolve_weights(reference)``, ``_build_backbone(location,
device)`` and ``_encode_batch``; see :class:`BasePretrainedEncoder`.
"""

import os
import socket
import urllib.parse

from skmm.encoders._base import BaseRawEncoder
from skmm.exceptions import WeightsChangedError
from skmm.utils._cache import get_resource, weights_fingerprint
from skmm.utils._torch import resolve_device

__all__ = [
    "BasePretrainedEncoder",
    "hub_offline",
    "pool_tokens",
    "resolve_hf_model",
]

#: Seconds allowed to open a connection to the hub before declaring it offline.
_PROBE_TIMEOUT = 3.0

#: Files fetched for a hub model that is not cached yet (no ONNX/TF/Flax copies).
_HUB_IGNORE = [
    "*.onnx",
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.tflite",
    "onnx/*",
    "openvino/*",
]


# -- model resolution ------------------------------------------------------------
def hub_offline():
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE``).

    Examples
    --------
    >>> from skmm.encoders._pretrained import hub_offline
    >>> isinstance(hub_offline(), bool)
    True
    """
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get(
        "TRANSFORMERS_OFFLINE", ""
    )
    return bool(constants.HF_HUB_OFFLINE) or env.strip().upper() in {
        "1",
        "ON",
        "YES",
        "TRUE",
    }


def _hub_reachable(endpoint, timeout=_PROBE_TIMEOUT):
    """One short TCP connection to the hub (no retries)."""
    parsed = urllib.parse.urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_local(raw, path):
    return (
        os.path.isabs(path)
        or raw.startswith((".", "~"))
        or raw.count("/") > 1
        or (os.sep != "/" and os.sep in raw)
    )


def resolve_hf_model(name_or_path, *, param, owner, verbose=0):
    """Resolve a local model directory or a hub name to a local directory.

    Parameters
    ----------
    name_or_path : str or path-like
        A directory saved with ``save_pretrained``, or a hub name such as
        ``"sentence-transformers/all-MiniLM-L6-v2"``.
    param : str
        Parameter name, used in messages.
    owner : str
        Estimator name, used in messages.
    verbose : int, default=0
        Show download progress bars.

    Returns
    -------
    reference : str
        The absolute directory, or the hub name (portable across machines).
    directory : str
        The local directory the files are loaded from (for a hub name: its
        snapshot in the Hugging Face cache).

    Raises
    ------
    OSError
        The directory does not exist, or the hub name is not cached and the hub
        cannot be reached (``HF_HUB_OFFLINE=1``, or no network) -- at once,
        without the hub client's minute of retries.

    Examples
    --------
    >>> import tempfile
    >>> from skmm.encoders._pretrained import resolve_hf_model
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ref, local = resolve_hf_model(d, param="model", owner="Demo")
    ...     ref == local
    True
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            f"{owner}: {param} must be a local directory or a Hugging Face hub "
            f"name (str or path-like); got {type(name_or_path).__name__}."
        )
    raw = os.fspath(name_or_path)
    path = os.path.expanduser(raw)
    if os.path.isdir(path):
        path = os.path.abspath(path)
        return path, path
    if os.path.exists(path):
        raise OSError(
            f"{owner}: {param}={raw!r} is a file; pass the directory holding the "
            "model (config.json, weights and tokenizer / processor files)."
        )
    if _looks_local(raw, path):
        raise FileNotFoundError(f"{owner}: {param}={raw!r}: no such directory.")
    return raw, _hub_snapshot(raw, param=param, owner=owner, verbose=verbose)


def _hub_snapshot(name, *, param, owner, verbose):
    from huggingface_hub import constants, snapshot_download

    from skmm.utils._torch import hf_progress

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:  # not (fully) cached: LocalEntryNotFoundError, ...
        pass
    hint = (
        "Pass a local directory saved with save_pretrained, or download the model "
        "once on a machine with internet (huggingface_hub.snapshot_download"
        f"({name!r})) and pass that directory."
    )
    if hub_offline():
        raise OSError(
            f"{owner}: {param}={name!r} is not a local directory and is not in the "
            f"local Hugging Face cache, and the hub is offline (HF_HUB_OFFLINE is "
            f"set). {hint}"
        )
    if not _hub_reachable(constants.ENDPOINT):
        raise OSError(
            f"{owner}: {param}={name!r} is not a local directory and is not in the "
            f"local Hugging Face cache, and {constants.ENDPOINT} cannot be reached "
            f"(no network?). {hint}"
        )
    try:
        with hf_progress(verbose):
            return snapshot_download(name, ignore_patterns=_HUB_IGNORE)
    except Exception as exc:
        raise OSError(
            f"{owner}: could not download {param}={name!r} from the Hugging Face "
            f"hub: {exc}"
        ) from exc


# -- pooling ---------------------------------------------------------------------
def pool_tokens(hidden, valid, pooling):
    """Pool token (or frame) states into one vector per sample.

    The one pooling of skmm's pretrained encoders.

    Parameters
    ----------
    hidden : torch.Tensor of shape (n, T, d)
        Token, patch or frame states.
    valid : torch.Tensor of shape (n, T), dtype bool, or None
        Positions that are not padding (None: all).
    pooling : {"mean", "max", "cls"}
        ``"mean"``: average of the valid positions; ``"max"``: element-wise
        maximum over them; ``"cls"``: the first position (a class token).

    Returns
    -------
    pooled : torch.Tensor of shape (n, d)

    Examples
    --------
    >>> import torch
    >>> from skmm.encoders._pretrained import pool_tokens
    >>> h = torch.tensor([[[1.0], [3.0], [9.0]]])
    >>> valid = torch.tensor([[True, True, False]])
    >>> [pool_tokens(h, valid, p).item() for p in ("mean", "max", "cls")]
    [2.0, 3.0, 1.0]
    """
    import torch

    from skmm.utils._torch import masked_mean

    if pooling == "cls":
        return hidden[:, 0]
    if valid is None:
        valid = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    valid = valid.to(hidden.device).bool()
    if pooling == "mean":
        return masked_mean(hidden, valid)
    if pooling == "max":
        return hidden.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(1)
    raise ValueError(f"unknown pooling {pooling!r}")


# -- the base class ----------------------------------------------------------------
class BasePretrainedEncoder(BaseRawEncoder):
    """Base class of the encoders that embed cells with a frozen pretrained network.

    See the module docstring for what it provides. Subclasses implement:

    ``_model_reference(self)``
        The reference to resolve at ``fit`` (usually a parameter value).
    ``_resolve_weights(self, reference)``
        ``(model_path, weights_location)``: the resolved, portable reference
        stored as ``model_path_`` (a directory, a hub name, a weights file or
        None), and the local file or directory whose SHA-256 is the fingerprint
        and that the network is loaded from (None: nothing to fingerprint, e.g.
        a seeded random initialisation).
    ``_build_backbone(self, location, device)``
        Load the network; return an object with an ``n_features`` attribute or
        key. Called once per process and resource key.
    ``_backbone_options(self)`` (optional)
        Parameters, besides the weights and the device, that change the loaded
        backbone (part of its cache key).
    ``_encode_batch(self, items)``
        Embed decoded items with ``self._get_backbone()``; apply
        ``self._finish(pooled)`` for ``normalize``.
    """

    _transient = ("_backbone",)

    # -- hooks -------------------------------------------------------------------
    def _model_reference(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _resolve_weights(self, reference):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_backbone(self, location, device):  # pragma: no cover - abstract
        raise NotImplementedError

    def _backbone_options(self):
        return ()

    # -- BaseRawEncoder hooks --------------------------------------------------------
    def _prepare(self):
        device = resolve_device(self.device)
        model_path, location = self._resolve_weights(self._model_reference())
        sha = weights_fingerprint(location) if location is not None else None
        backbone = self._load_backbone(model_path, location, sha, device)
        n_features = _n_features(backbone)
        # Fitted attributes are assigned only once the backbone loaded.
        self.model_path_ = model_path
        self.weights_sha256_ = sha
        self.device_ = device
        self._backbone = backbone
        self.n_features_out_ = n_features

    def _feature_names(self):
        return [f"emb{i}" for i in range(self.n_features_out_)]

    # -- internals -------------------------------------------------------------------
    def _load_backbone(self, model_path, location, sha, device):
        key = (
            type(self).__name__,
            model_path,
            sha,
            device,
            *self._backbone_options(),
        )
        return get_resource(key, lambda: self._build_backbone(location, device))

    def _get_backbone(self):
        """The loaded backbone; reloaded by reference after unpickling or copy.

        A reload checks the fingerprint of the weights against
        ``weights_sha256_`` and raises
        :class:`~skmm.exceptions.WeightsChangedError` on mismatch.
        """
        backbone = self.__dict__.get("_backbone")
        if backbone is not None:
            return backbone
        model_path, location = self._resolve_weights(self.model_path_)
        actual = weights_fingerprint(location) if location is not None else None
        if actual != self.weights_sha256_:
            raise WeightsChangedError(
                f"{type(self).__name__}: the weights at {location!r} changed since "
                f"the encoder was fitted (sha256 {_short(actual)} != recorded "
                f"{_short(self.weights_sha256_)}); its outputs would silently "
                "differ. Refit the encoder, or restore the original weights."
            )
        device = resolve_device(self.device)
        backbone = self._load_backbone(model_path, location, actual, device)
        self._backbone = backbone
        return backbone

    def _finish(self, pooled):
        """Apply ``normalize`` and return a float32 numpy array."""
        import torch

        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled.float().cpu().numpy()


def _n_features(backbone):
    if isinstance(backbone, dict):
        return int(backbone["n_features"])
    return int(backbone.n_features)


def _short(sha):
    return "none" if sha is None else f"{sha[:12]}..."
