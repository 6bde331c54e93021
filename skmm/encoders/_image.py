"""Image encoders: raw image cells (paths, PIL images, arrays) to features.

Every encoder here decodes its cells with :func:`~skmm.encoders.decode_image`
(see :mod:`skmm.encoders._image_io`), so that files, PIL images and arrays are
validated and normalised the same way everywhere.
"""

import functools
import numbers
import os
import re
import urllib.parse
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from skmm.encoders._base import BaseRawEncoder, BaseRawLoader
from skmm.encoders._image_io import (
    _MODES,
    _RESAMPLE,
    check_image_params,
    decode_image,
    decode_image_array,
)
from skmm.encoders._pretrained import (
    BasePretrainedEncoder,
    pool_tokens,
    resolve_hf_model,
)
from skmm.utils._layout import grid_feature_names
from skmm.utils._sklearn_compat import HasMethods, Interval, StrOptions
from skmm.utils._torch import hf_progress, torch_threads

__all__ = [
    "ImageLoader",
    "PixelEncoder",
    "TorchvisionImageEncoder",
    "TransformerImageEncoder",
]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_STATE_DICT_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin")

#: Parameter constraints shared by the image encoders. ``size`` pairs are
#: checked further by :func:`check_image_params` (a positive ``(height, width)``).
_SIZE = [Interval(Integral, 1, None, closed="left"), tuple, list]
_MODE = [StrOptions(set(_MODES))]
_RESAMPLE_OPTIONS = [StrOptions(set(_RESAMPLE))]


# =====================================================================================
# ImageLoader
# =====================================================================================
class ImageLoader(BaseRawLoader):
    """Decode image cells into normalised uint8 arrays.

    A stateless transformer: each present cell (a path, a PIL image or an array)
    is decoded by :func:`~skmm.encoders.decode_image` -- fully loaded, EXIF
    rotated, converted to RGB or greyscale with alpha composited over white,
    optionally resized -- and returned as a uint8 array. Use it in front of
    custom image code, or to decode files once and feed arrays to several
    encoders.

    Parameters
    ----------
    size : int or tuple of (height, width), default=None
        Resize every image to this size (an int means a square), ignoring the
        aspect ratio. None keeps each image's own size.
    mode : {"RGB", "L"}, default="RGB"
        ``"RGB"`` gives ``HxWx3`` arrays, ``"L"`` (greyscale) ``HxW`` arrays.
    resample : {"bilinear", "bicubic", "lanczos", "nearest", "box", "hamming"}, \
            default="bilinear"
        Resampling filter of the resize.
    max_pixels : int, default=None
        Largest accepted image (width x height); larger images are refused as
        potential decompression bombs. None uses Pillow's
        ``PIL.Image.MAX_IMAGE_PIXELS``.
    n_jobs : int, default=None
        Number of threads decoding images (``None`` means 1, ``-1`` all cores).
    verbose : int, default=0
        Show a progress bar when positive.
    errors : {"raise", "missing"}, default="raise"
        What to do with a cell that cannot be decoded: raise
        :class:`~skmm.exceptions.InvalidSampleError` naming the sample, or warn
        and return None for it, as for a missing cell.

    See Also
    --------
    decode_image : The decoding function applied to each cell.
    PixelEncoder : Fixed-size pixels as a float feature matrix.

    Notes
    -----
    The output is a list, not a matrix: ``set_output`` is a no-op and the
    loader opts out of sklearn's output wrapping, so it can sit at the head of
    a pipeline configured with ``set_output(transform="pandas")``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders import ImageLoader
    >>> cells = [np.zeros((4, 6, 3), dtype=np.uint8), None, np.ones((5, 5))]
    >>> out = ImageLoader(size=(2, 3), mode="L").fit_transform(cells)
    >>> [None if a is None else (a.shape, a.dtype.name, int(a.max())) for a in out]
    [((2, 3), 'uint8', 0), None, ((2, 3), 'uint8', 255)]
    """

    _parameter_constraints: dict = {
        **BaseRawLoader._parameter_constraints,
        "size": [*_SIZE, None],
        "mode": _MODE,
        "resample": _RESAMPLE_OPTIONS,
        "max_pixels": [Interval(Integral, 1, None, closed="left"), None],
    }
    _modality = "image"

    def __init__(
        self,
        *,
        size=None,
        mode="RGB",
        resample="bilinear",
        max_pixels=None,
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.size = size
        self.mode = mode
        self.resample = resample
        self.max_pixels = max_pixels
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    def _check_param_combinations(self):
        check_image_params(self.mode, self.size, self.resample, self.max_pixels)

    def _loader(self):
        size = check_image_params(self.mode, self.size, self.resample, self.max_pixels)
        return functools.partial(
            decode_image_array,
            mode=self.mode,
            size=size,
            resample=self.resample,
            max_pixels=self.max_pixels,
        )


# =====================================================================================
# PixelEncoder
# =====================================================================================
class PixelEncoder(BaseRawEncoder):
    """Fixed-size pixels of each image as a float feature vector.

    Each present cell is decoded by :func:`~skmm.encoders.decode_image`, resized
    to ``size``, scaled to [0, 1] and flattened channel-first ``(C, H, W)``. The
    feature names ``"pixel:c:i:j"`` let fusion networks recover the image shape
    with :func:`skmm.utils.infer_block_shape` (for a CNN branch); linear models
    use the flat vector directly.

    Parameters
    ----------
    size : int or tuple of (height, width), default=(32, 32)
        Size every image is resized to (an int means a square), ignoring the
        aspect ratio.
    mode : {"RGB", "L"}, default="RGB"
        3 channels, or 1 greyscale channel.
    resample : {"bilinear", "bicubic", "lanczos", "nearest", "box", "hamming"}, \
            default="bilinear"
        Resampling filter of the resize.
    batch_size : int, default=64
        Images decoded at once (bounds memory).
    n_jobs : int, default=None
        Number of threads decoding images (``None`` means 1).
    verbose : int, default=0
        Show a progress bar over batches when positive.
    errors : {"raise", "missing"}, default="raise"
        A cell that cannot be decoded raises
        :class:`~skmm.exceptions.InvalidSampleError`, or (``"missing"``) gives a
        NaN row with a warning.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(C, H, W)`` of the encoded images.
    n_features_out_ : int
        ``C * H * W``.

    See Also
    --------
    ImageLoader : Decoded images as arrays, not flattened.
    TorchvisionImageEncoder : Pretrained CNN features.

    Notes
    -----
    Images larger than Pillow's ``PIL.Image.MAX_IMAGE_PIXELS`` are refused
    (decompression bombs); use :class:`ImageLoader` with ``max_pixels`` in front
    to choose another limit.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders import PixelEncoder
    >>> cells = [np.zeros((8, 8, 3), dtype=np.uint8), None]
    >>> enc = PixelEncoder(size=(2, 2)).fit(cells)
    >>> enc.transform(cells).shape
    (2, 12)
    >>> enc.get_feature_names_out()[:2].tolist()
    ['pixel:0:0:0', 'pixel:0:0:1']
    """

    _parameter_constraints: dict = {
        **BaseRawEncoder._parameter_constraints,
        "size": _SIZE,
        "mode": _MODE,
        "resample": _RESAMPLE_OPTIONS,
    }
    _modality = "image"

    def __init__(
        self,
        *,
        size=(32, 32),
        mode="RGB",
        resample="bilinear",
        batch_size=64,
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.size = size
        self.mode = mode
        self.resample = resample
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    def _check_param_combinations(self):
        check_image_params(
            self.mode, self.size, self.resample, None, size_required=True
        )

    def _prepare(self):
        height, width = check_image_params(
            self.mode, self.size, self.resample, None, size_required=True
        )
        self.image_shape_ = (3 if self.mode == "RGB" else 1, height, width)

    def _loader(self):
        channels, height, width = self.image_shape_
        return functools.partial(
            decode_image_array,
            mode="RGB" if channels == 3 else "L",
            size=(height, width),
            resample=self.resample,
        )

    def _encode_batch(self, items):
        pixels = np.stack(items)
        if pixels.ndim == 3:
            pixels = pixels[:, None]
        else:
            pixels = pixels.transpose(0, 3, 1, 2)
        out = pixels.reshape(len(items), -1).astype(np.float32)
        out *= np.float32(1.0 / 255.0)
        return out

    def _feature_names(self):
        return grid_feature_names("pixel", self.image_shape_)


# =====================================================================================
# Pretrained backbones
# =====================================================================================
def _decode_and_transform(cell, *, transform):
    return transform(decode_image(cell, mode="RGB"))


def _pool(output):
    if isinstance(output, dict):
        (output,) = output.values()
    if isinstance(output, (tuple, list)):
        output = output[0]
    if output.ndim == 4:
        return output.mean(dim=(2, 3))
    if output.ndim == 3:
        return output.mean(dim=1)
    return output.reshape(output.shape[0], -1)


def _seeded_model(name, seed, **kwargs):
    """A randomly initialised torchvision model, seeded without touching the
    global torch RNG."""
    import torch
    from torchvision.models import get_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_model(name, weights=None, **kwargs)


def _last_linear(net):
    import torch

    names = [n for n, m in net.named_modules() if isinstance(m, torch.nn.Linear)]
    return names[-1] if names else None


def _replace_module(net, name, module):
    parent, _, child = name.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, child, module)


def _read_state_dict(path):
    import torch

    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path, device="cpu")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"cannot read a state_dict from {path!r} ({type(exc).__name__}: {exc}). "
            "Save weights with torch.save(model.state_dict(), path) or as "
            ".safetensors."
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise ValueError(
            f"{path!r} does not hold a state_dict (a mapping of names to tensors)."
        )
    return state


def _torch_hub_weights(enum, owner, verbose=0):
    """Path of a torchvision weight enum's file in torch's hub cache.

    The file is downloaded into the cache if it is missing (verifying the hash
    prefix in its name); without network that fails at once with an OSError
    telling the user to pass a local file. It is *not* loaded here: the caller
    reads it with ``torch.load(..., weights_only=True)`` (torchvision's own
    loader unpickles the cache with ``weights_only=False``, which would run code
    planted there).
    """
    import torch.hub

    url = enum.url
    filename = os.path.basename(urllib.parse.urlparse(url).path)
    folder = os.path.join(torch.hub.get_dir(), "checkpoints")
    path = os.path.join(folder, filename)
    if os.path.isfile(path):
        return path
    match = re.search(r"-([a-f0-9]*)\.", filename)  # torch.hub's HASH_REGEX
    name = f"{type(enum).__name__}.{enum.name}"
    try:
        os.makedirs(folder, exist_ok=True)
        torch.hub.download_url_to_file(
            url,
            path,
            hash_prefix=match.group(1) if match else None,
            progress=bool(verbose),
        )
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise OSError(
            f"{owner}: weights not available offline: pass a local file. The "
            f"torchvision weights {name} are not in torch's hub cache ({path}) "
            f"and could not be downloaded from {url} ({type(exc).__name__}: "
            f"{exc}). Download the file on a machine with internet and pass "
            "weights='/path/to/file.pth' (a state_dict), or copy it to "
            f"{path}."
        ) from None
    return path


class TorchvisionImageEncoder(BasePretrainedEncoder):
    """Pooled features of a torchvision backbone (ResNet, ConvNeXt, ViT, ...).

    Each present cell is decoded by :func:`~skmm.encoders.decode_image` (RGB),
    preprocessed, and passed through the network in evaluation mode; the output
    is the penultimate, globally pooled representation (the classifier head is
    replaced by an identity), or the global average of a named node.

    Parameters
    ----------
    model : str, default="resnet18"
        A torchvision classification model name
        (``torchvision.models.list_models()``).
    weights : None, str or path, default=None
        * None: random initialisation seeded by ``random_state``. Deterministic;
          meant for tests and as an initialisation, not as a feature extractor.
        * ``"DEFAULT"``, a weight enum name such as ``"IMAGENET1K_V1"`` or a
          ``torchvision.models`` weight enum member: torchvision's pretrained
          weights, with their own preprocessing (``weights.transforms()``;
          ``size`` is then ignored). The file is taken from torch's hub cache
          (``torch.hub.get_dir()/checkpoints``), downloaded there on first use,
          and read with ``torch.load(..., weights_only=True)``, so a file planted
          in the cache cannot run code. Without network and without the file in
          the cache, ``fit`` raises ``OSError("weights not available offline:
          pass a local file ...")``.
        * a path to a local ``.pth`` / ``.pt`` / ``.safetensors`` file holding a
          state_dict of the model (full, or without the classifier head). Its
          sha256 is recorded at fit and checked when a pickled encoder reloads it.
    layer : str, default=None
        None: the penultimate pooled output. Otherwise a node name of the model
        (``torchvision.models.feature_extraction.get_graph_node_names``), e.g.
        ``"layer3"``; ``(N, C, H, W)`` maps are averaged over space and
        ``(N, L, D)`` token sequences over tokens.
    normalize : bool, default=False
        L2-normalise each feature vector.
    size : int or tuple of (height, width), default=224
        Input size without weight enums: an int resizes the shorter side to
        ``size`` and centre-crops a ``size x size`` square; a pair resizes to
        exactly ``(height, width)``. Images are then normalised with the
        ImageNet mean and standard deviation.
    batch_size : int, default=32
        Images per forward pass.
    device : str, default="cpu"
        Torch device (``"auto"`` picks CUDA when available).
    random_state : int, RandomState instance or None, default=None
        Seeds the random initialisation (``weights=None``).
    n_jobs : int, default=None
        Number of threads decoding and preprocessing images (``None`` means 1).
    verbose : int, default=0
        Show a progress bar over batches when positive.
    errors : {"raise", "missing"}, default="raise"
        A cell that cannot be decoded raises
        :class:`~skmm.exceptions.InvalidSampleError`, or (``"missing"``) gives a
        NaN row with a warning.

    Attributes
    ----------
    n_features_out_ : int
        Dimension of the features.
    model_path_ : str or None
        The weights file loaded (a local file, or the file of a weight enum in
        torch's hub cache); None for a random initialisation.
    weights_sha256_ : str or None
        SHA-256 of that file, recorded at fit (None for a random
        initialisation). A pickled encoder reloading different weights raises
        :class:`~skmm.exceptions.WeightsChangedError`.
    device_ : str
        The resolved torch device.
    init_seed_ : int or None
        Seed of the random initialisation (``weights=None``), drawn from
        ``random_state`` at fit; a pickled encoder reinitialises from it.

    See Also
    --------
    TransformerImageEncoder : Vision transformers (ViT, CLIP) from transformers.
    PixelEncoder : Raw pixels.

    Notes
    -----
    The network is not stored in the estimator's pickle: only the reference
    (model name, weights path and sha256, or seed). Each process loads it once
    (:func:`skmm.utils._cache.get_resource`), so clones and grid-search
    candidates share it.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders import TorchvisionImageEncoder
    >>> rng = np.random.RandomState(0)
    >>> cells = [rng.randint(0, 256, (40, 48, 3)).astype(np.uint8), None]
    >>> enc = TorchvisionImageEncoder("resnet18", size=32, random_state=0)
    >>> Xt = enc.fit_transform(cells)
    >>> Xt.shape, bool(np.isnan(Xt[1]).all())
    ((2, 512), True)
    """

    _parameter_constraints: dict = {
        **BasePretrainedEncoder._parameter_constraints,
        "model": [str],
        "weights": [
            None,
            str,
            os.PathLike,
            HasMethods(["transforms", "get_state_dict"]),
        ],
        "layer": [str, None],
        "normalize": ["boolean"],
        "size": _SIZE,
        "device": [str, None],
        "random_state": ["random_state"],
    }
    _modality = "image"

    def __init__(
        self,
        model="resnet18",
        *,
        weights=None,
        layer=None,
        normalize=False,
        size=224,
        batch_size=32,
        device="cpu",
        random_state=None,
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.model = model
        self.weights = weights
        self.layer = layer
        self.normalize = normalize
        self.size = size
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    # -- parameters -------------------------------------------------------------
    def _check_param_combinations(self):
        if not self.model:
            raise ValueError("model must be a torchvision model name; got ''.")
        check_image_params("RGB", self.size, "bilinear", None, size_required=True)
        kind, ref = self._weights_kind()
        if kind == "file" and not os.path.isfile(ref):
            raise FileNotFoundError(
                f"weights file {os.path.abspath(ref)!r} does not exist."
            )

    def _weights_kind(self):
        weights = self.weights
        if weights is None:
            return "random", None
        if isinstance(weights, os.PathLike) or (
            isinstance(weights, str)
            and (
                weights.lower().endswith(_STATE_DICT_SUFFIXES)
                or os.sep in weights
                or os.path.exists(weights)
            )
        ):
            return "file", os.fspath(weights)
        if isinstance(weights, str):
            return "enum", weights
        return "enum", f"{type(weights).__name__}.{weights.name}"

    # -- BasePretrainedEncoder hooks ----------------------------------------------
    def _model_reference(self):
        return self.weights

    def _resolve_weights(self, reference):
        kind, ref = self._weights_kind()
        if kind == "random":
            return None, None
        if kind == "file":
            # At fit, ``reference`` is the ``weights`` parameter; on reload, the
            # absolute ``model_path_`` recorded at fit.
            path = os.path.abspath(os.fspath(reference))
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{type(self).__name__}: weights file {path!r} does not exist."
                )
            return path, path
        path = _torch_hub_weights(
            self._weight_enum(ref), type(self).__name__, self.verbose
        )
        return path, path

    def _prepare(self):
        kind, _ = self._weights_kind()
        self.init_seed_ = (
            int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            if kind == "random"
            else None
        )
        super()._prepare()

    def _backbone_options(self):
        kind, ref = self._weights_kind()
        size = (
            self.size if isinstance(self.size, numbers.Integral) else tuple(self.size)
        )
        # A weights file is identified by model_path_ and its sha256 (the key's
        # other entries); the relative path given at fit would not be portable.
        ref = ref if kind == "enum" else None
        return (self.model, kind, ref, self.init_seed_, self.layer, size)

    # -- backbone ----------------------------------------------------------------
    def _build_backbone(self, location, device):
        import torch

        kind, ref = self._weights_kind()
        if kind == "enum":
            enum = self._weight_enum(ref)
            net = self._load_enum_weights(enum, location)
            head = _last_linear(net)
            transform = enum.transforms()
        else:
            net = _seeded_model(self.model, self.init_seed_ or 0)
            head = _last_linear(net)
            if kind == "file":
                net = self._load_weights(net, location, head)
            transform = self._default_transform()
        if self.layer is None:
            if head is None:
                raise ValueError(
                    f"{self.model!r} has no linear classifier head to drop; pass "
                    "layer=<node name> (see torchvision.models.feature_extraction."
                    "get_graph_node_names)."
                )
            _replace_module(net, head, torch.nn.Identity())
        net.eval()
        if self.layer is not None:
            from torchvision.models.feature_extraction import create_feature_extractor

            try:
                net = create_feature_extractor(net, return_nodes={self.layer: "out"})
            except ValueError as exc:
                raise ValueError(
                    f"layer={self.layer!r} is not a node of {self.model!r}: {exc}"
                ) from None
            net.eval()
        net.to(device)
        probe = _decode_and_transform(
            np.zeros((64, 64, 3), np.uint8), transform=transform
        )
        with torch.inference_mode():
            n_features = int(_pool(net(probe[None].to(device))).shape[1])
        return {
            "net": net,
            "transform": transform,
            "n_features": n_features,
            "device": device,
        }

    def _load_enum_weights(self, enum, path):
        """The model of a weight enum, with the state dict read safely."""
        kwargs = {}
        categories = enum.meta.get("categories")
        if categories:
            kwargs["num_classes"] = len(categories)
        aux = self.model in ("inception_v3", "googlenet")
        if aux:  # what torchvision's builders set when given weights
            kwargs.update(transform_input=True, aux_logits=True, init_weights=False)
        net = _seeded_model(self.model, 0, **kwargs)
        state = _read_state_dict(path)
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"the state_dict in {path!r} does not match torchvision model "
                f"{self.model!r} with weights {enum.name}: {exc}"
            ) from None
        if aux:
            net.aux_logits = False
            for name in ("AuxLogits", "aux1", "aux2"):
                if hasattr(net, name):
                    setattr(net, name, None)
        return net

    def _weight_enum(self, name):
        from torchvision.models import get_model_weights, get_weight

        if "." in name:
            return get_weight(name)
        enum = get_model_weights(self.model)
        if name == "DEFAULT":
            return enum.DEFAULT
        try:
            return enum[name]
        except KeyError:
            raise ValueError(
                f"unknown weights {name!r} for {self.model!r}; available: "
                f"{['DEFAULT', *enum.__members__]}."
            ) from None

    def _load_weights(self, net, path, head):
        import torch

        state = _read_state_dict(path)
        if head is not None and f"{head}.weight" in state:
            n_out = state[f"{head}.weight"].shape[0]
            if n_out != net.get_submodule(head).out_features:
                net = _seeded_model(self.model, 0, num_classes=int(n_out))
        elif head is not None:
            _replace_module(net, head, torch.nn.Identity())
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"the state_dict in {path!r} does not match torchvision model "
                f"{self.model!r}: {exc}"
            ) from None
        return net

    def _default_transform(self):
        import torch
        from torchvision.transforms import v2

        if isinstance(self.size, numbers.Integral):
            resize = [v2.Resize(self.size, antialias=True), v2.CenterCrop(self.size)]
        else:
            resize = [v2.Resize(tuple(self.size), antialias=True)]
        return v2.Compose(
            [
                *resize,
                v2.ToImage(),
                v2.ToDtype(torch.float32, scale=True),
                v2.Normalize(mean=_IMAGENET_MEAN, std=_IMAGENET_STD),
            ]
        )

    # -- encoding ----------------------------------------------------------------
    def _loader(self):
        return functools.partial(
            _decode_and_transform, transform=self._get_backbone()["transform"]
        )

    def _encode_batch(self, items):
        import torch

        net = self._get_backbone()["net"]
        if net.training:  # a shared backbone put in train mode elsewhere
            net.eval()
        with torch_threads(), torch.inference_mode():
            batch = torch.stack(items).to(self._get_backbone()["device"])
            return self._finish(_pool(net(batch)))


class TransformerImageEncoder(BasePretrainedEncoder):
    """Image embeddings of a Hugging Face vision transformer (ViT, CLIP, ...).

    The model and its image processor are loaded with ``AutoModel`` +
    ``AutoImageProcessor`` from a local directory or a hub name (see
    ``model_name_or_path``). Each present cell is decoded by
    :func:`~skmm.encoders.decode_image` (RGB), preprocessed by the model's own
    image processor and embedded in evaluation mode.

    Parameters
    ----------
    model_name_or_path : str or path
        A local directory saved with ``save_pretrained`` (model and image
        processor), or a Hugging Face hub name. A hub name is looked up in the
        local Hugging Face cache first; if it is not cached and the hub is
        unreachable (``HF_HUB_OFFLINE=1``, or no network), ``fit`` fails at once
        with an :class:`OSError` saying so.
    pooling : {"cls", "mean", "max"}, default="cls"
        ``"cls"``: the class-token embedding -- the last hidden state at position
        0 for ViT-like models; for CLIP vision towers the post-layernorm class
        token (``pooler_output``), projected into the joint image-text space for a
        full ``CLIPModel`` (as ``get_image_features``). ``"mean"`` / ``"max"``:
        the mean / element-wise maximum of the last hidden state over all tokens
        (spatial positions for convolutional models).
    normalize : bool, default=False
        L2-normalise each embedding.
    batch_size : int, default=16
        Images per forward pass.
    device : str, default="cpu"
        Torch device (``"auto"`` picks CUDA when available).
    n_jobs : int, default=None
        Number of threads decoding images (``None`` means 1).
    verbose : int, default=0
        Show a progress bar over batches when positive.
    errors : {"raise", "missing"}, default="raise"
        A cell that cannot be decoded raises
        :class:`~skmm.exceptions.InvalidSampleError`, or (``"missing"``) gives a
        NaN row with a warning.

    Attributes
    ----------
    n_features_out_ : int
        Embedding dimension.
    model_path_ : str
        The resolved model: an absolute directory, or the hub name.
    weights_sha256_ : str
        SHA-256 over the model directory's files, recorded at fit. A pickled
        encoder reloading changed files raises
        :class:`~skmm.exceptions.WeightsChangedError`.
    device_ : str
        The resolved torch device.

    See Also
    --------
    TorchvisionImageEncoder : Torchvision CNN backbones.

    Notes
    -----
    The model is not stored in the estimator's pickle, only its path and
    checksum; each process loads it once.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skmm.encoders import TransformerImageEncoder
    >>> from skmm.utils._testing import make_tiny_vit
    >>> path = make_tiny_vit(tempfile.mkdtemp())
    >>> cells = [np.zeros((20, 30, 3), dtype=np.uint8), None]
    >>> TransformerImageEncoder(path).fit_transform(cells).shape
    (2, 16)
    """

    _parameter_constraints: dict = {
        **BasePretrainedEncoder._parameter_constraints,
        "model_name_or_path": [str, os.PathLike],
        "pooling": [StrOptions({"cls", "mean", "max"})],
        "normalize": ["boolean"],
        "device": [str, None],
    }
    _modality = "image"

    def __init__(
        self,
        model_name_or_path,
        *,
        pooling="cls",
        normalize=False,
        batch_size=16,
        device="cpu",
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.model_name_or_path = model_name_or_path
        self.pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    # -- BasePretrainedEncoder hooks ----------------------------------------------
    def _model_reference(self):
        return self.model_name_or_path

    def _resolve_weights(self, reference):
        return resolve_hf_model(
            reference,
            param="model_name_or_path",
            owner=type(self).__name__,
            verbose=self.verbose,
        )

    def _backbone_options(self):
        return (self.pooling,)

    def _build_backbone(self, location, device):
        import torch
        from transformers import AutoImageProcessor, AutoModel

        try:
            with hf_progress(self.verbose):
                processor = AutoImageProcessor.from_pretrained(
                    location, local_files_only=True
                )
                model = AutoModel.from_pretrained(location, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise OSError(
                f"{type(self).__name__} could not load a transformers vision model "
                f"and image processor from {location!r}: {exc}"
            ) from exc
        model.eval().to(device)
        backbone = {"net": model, "processor": processor, "device": device}
        probe = decode_image(np.zeros((32, 32, 3), np.uint8))
        with torch.inference_mode():
            n_features = int(self._embed(backbone, [probe]).shape[1])
        backbone["n_features"] = n_features
        return backbone

    def _embed(self, backbone, images):
        model = backbone["net"]
        inputs = backbone["processor"](images=images, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(backbone["device"])
        return _vision_features(model, pixel_values, self.pooling)

    def _loader(self):
        return functools.partial(decode_image, mode="RGB")

    def _encode_batch(self, items):
        import torch

        backbone = self._get_backbone()
        if backbone["net"].training:  # a shared backbone put in train mode elsewhere
            backbone["net"].eval()
        with torch_threads(), torch.inference_mode():
            return self._finish(self._embed(backbone, items))


def _tokens(hidden):
    """(N, C, H, W) feature maps as (N, H*W, C) tokens; sequences unchanged."""
    if hidden.ndim == 4:
        return hidden.flatten(2).transpose(1, 2)
    return hidden


def _vision_features(model, pixel_values, pooling):
    """Pooled image features of a transformers vision model (or dual encoder)."""
    if hasattr(model, "vision_model") and hasattr(model, "visual_projection"):
        # CLIPModel-like dual encoder: use the vision tower only.
        out = model.vision_model(pixel_values=pixel_values, return_dict=True)
        if pooling == "cls":
            return model.visual_projection(out.pooler_output)
        return pool_tokens(out.last_hidden_state, None, pooling)
    out = model(pixel_values=pixel_values, return_dict=True)
    hidden = out.last_hidden_state
    if pooling != "cls":
        return pool_tokens(_tokens(hidden), None, pooling)
    if getattr(out, "image_embeds", None) is not None:
        return out.image_embeds
    if model.config.model_type == "clip_vision_model":
        return out.pooler_output
    if hidden.ndim == 3:
        return hidden[:, 0]
    if getattr(out, "pooler_output", None) is not None:
        return out.pooler_output.reshape(hidden.shape[0], -1)
    raise ValueError(
        f"pooling='cls' needs a token sequence or a pooled output; "
        f"{type(model).__name__} returns neither. Use pooling='mean'."
    )
