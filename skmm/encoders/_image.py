"""Image encoders: raw image cells (paths, PIL images, arrays) to features.

Every encoder here decodes its cells with :func:`~skmm.encoders.decode_image`
(see :mod:`skmm.encoders._image_io`), so that files, PIL images and arrays are
validated and normalised the same way everywhere.
"""

import functools
import numbers
import os

import numpy as np
from sklearn.utils import check_random_state

from skmm.encoders._base import BaseRawEncoder, BaseRawLoader
from skmm.encoders._image_io import (
    check_image_params,
    decode_image,
    decode_image_array,
)
from skmm.utils._cache import file_sha256, get_resource
from skmm.utils._layout import grid_feature_names
from skmm.utils._torch import resolve_device, torch_threads

__all__ = [
    "ImageLoader",
    "PixelEncoder",
    "TorchvisionImageEncoder",
    "TransformerImageEncoder",
]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_STATE_DICT_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin")


def _check_errors_and_jobs(estimator):
    if estimator.errors not in ("raise", "missing"):
        raise ValueError(
            f"errors must be 'raise' or 'missing'; got {estimator.errors!r}."
        )
    n_jobs = estimator.n_jobs
    if n_jobs is not None and (
        not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool)
    ):
        raise ValueError(f"n_jobs must be an int or None; got {n_jobs!r}.")


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

    def _loader(self):
        size = check_image_params(self.mode, self.size, self.resample, self.max_pixels)
        _check_errors_and_jobs(self)
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

    def _check_params(self):
        super()._check_params()
        _check_errors_and_jobs(self)
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
class _PretrainedImageEncoder(BaseRawEncoder):
    """Shared plumbing: a backbone held in a transient attribute, by reference."""

    _modality = "image"
    _transient = ("_backbone",)

    def _prepare(self):
        # Records the reference (sha256 just computed, or seed) the model is
        # loaded by; no need to verify the checksum again while building.
        self._resolve_reference()
        self._backbone = get_resource(
            self._resource_key(), functools.partial(self._build_backbone, verify=False)
        )
        self.n_features_out_ = self._backbone["n_features"]

    def _get_backbone(self):
        backbone = self.__dict__.get("_backbone")
        if backbone is None:
            # Unpickled (or copied) encoder: reload by reference, checking that
            # the weights are still those seen at fit.
            backbone = get_resource(self._resource_key(), self._build_backbone)
            self._backbone = backbone
        return backbone

    def _feature_names(self):
        return [f"feat{i}" for i in range(self.n_features_out_)]

    def _verify_sha(self, path):
        expected = getattr(self, "weights_sha256_", None)
        actual = file_sha256(path)
        if expected is not None and actual != expected:
            raise ValueError(
                f"{type(self).__name__}: the weights at {path!r} changed since the "
                f"encoder was fitted (sha256 {actual[:12]}... != recorded "
                f"{expected[:12]}...). Refit the encoder or restore the weights."
            )


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


class TorchvisionImageEncoder(_PretrainedImageEncoder):
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
          weights (torchvision downloads them into its cache on first use), with
          their own preprocessing (``weights.transforms()``; ``size`` is then
          ignored).
        * a path to a local ``.pth`` / ``.pt`` / ``.safetensors`` file holding a
          state_dict of the model (full, or without the classifier head). Its
          sha256 is recorded at fit and checked when a pickled encoder reloads it.
    layer : str, default=None
        None: the penultimate pooled output. Otherwise a node name of the model
        (``torchvision.models.feature_extraction.get_graph_node_names``), e.g.
        ``"layer3"``; ``(N, C, H, W)`` maps are averaged over space and
        ``(N, L, D)`` token sequences over tokens.
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
    weights_sha256_ : str or None
        sha256 of the weights file (None for random or enum weights).
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

    def __init__(
        self,
        model="resnet18",
        *,
        weights=None,
        layer=None,
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
        self.size = size
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    # -- parameters -------------------------------------------------------------
    def _check_params(self):
        super()._check_params()
        _check_errors_and_jobs(self)
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(
                f"model must be a torchvision model name; got {self.model!r}."
            )
        if self.layer is not None and not isinstance(self.layer, str):
            raise ValueError(f"layer must be a node name or None; got {self.layer!r}.")
        check_image_params("RGB", self.size, "bilinear", None, size_required=True)

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
            path = os.path.abspath(os.fspath(weights))
            if not os.path.isfile(path):
                raise ValueError(f"weights file {path!r} does not exist.")
            return "file", path
        if isinstance(weights, str):
            return "enum", weights
        from torchvision.models import WeightsEnum

        if isinstance(weights, WeightsEnum):
            return "enum", f"{type(weights).__name__}.{weights.name}"
        raise ValueError(
            "weights must be None, 'DEFAULT', a weight enum name or member, or a "
            f"path to a state_dict file; got {weights!r}."
        )

    def _resolve_reference(self):
        kind, ref = self._weights_kind()
        self.weights_sha256_ = file_sha256(ref) if kind == "file" else None
        self.init_seed_ = (
            int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            if kind == "random"
            else None
        )

    def _resource_key(self):
        kind, ref = self._weights_kind()
        size = (
            self.size if isinstance(self.size, numbers.Integral) else tuple(self.size)
        )
        return (
            "skmm.TorchvisionImageEncoder",
            self.model,
            kind,
            ref,
            self.weights_sha256_,
            self.init_seed_,
            self.layer,
            size,
            resolve_device(self.device),
        )

    # -- backbone ----------------------------------------------------------------
    def _build_backbone(self, verify=True):
        import torch
        from torchvision.models import get_model

        kind, ref = self._weights_kind()
        device = resolve_device(self.device)
        if kind == "enum":
            enum = self._weight_enum(ref)
            net = get_model(self.model, weights=enum)
            head = _last_linear(net)
            transform = enum.transforms()
        else:
            net = _seeded_model(self.model, self.init_seed_ or 0)
            head = _last_linear(net)
            if kind == "file":
                net = self._load_weights(net, ref, head, verify)
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
        return {"net": net, "transform": transform, "n_features": n_features}

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

    def _load_weights(self, net, path, head, verify):
        import torch

        if verify:
            self._verify_sha(path)
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
        device = resolve_device(self.device)
        with torch_threads(), torch.inference_mode():
            batch = torch.stack(items).to(device)
            return _pool(net(batch)).float().cpu().numpy()


class TransformerImageEncoder(_PretrainedImageEncoder):
    """Image embeddings of a Hugging Face vision transformer (ViT, CLIP, ...).

    The model and its image processor are loaded from a local directory
    (``AutoModel`` + ``AutoImageProcessor``, offline). Each present cell is
    decoded by :func:`~skmm.encoders.decode_image` (RGB), preprocessed by the
    model's own image processor and embedded in evaluation mode.

    Parameters
    ----------
    model_name_or_path : str or path
        A local directory saved with ``save_pretrained`` (model and image
        processor). For a hub model, download it first (e.g. with
        ``huggingface_hub.snapshot_download``) and pass the directory.
    pooling : {"cls", "mean"}, default="cls"
        ``"cls"``: the class-token embedding -- the last hidden state at position
        0 for ViT-like models; for CLIP vision towers the post-layernorm class
        token (``pooler_output``), projected into the joint image-text space for a
        full ``CLIPModel`` (as ``get_image_features``). ``"mean"``: the mean of
        the last hidden state over all tokens (spatial positions for
        convolutional models).
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
    weights_sha256_ : str
        sha256 over the model directory's files, recorded at fit and checked when
        a pickled encoder reloads the model.

    See Also
    --------
    TorchvisionImageEncoder : torchvision CNN backbones.

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

    def _check_params(self):
        super()._check_params()
        _check_errors_and_jobs(self)
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean'; got {self.pooling!r}.")
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise ValueError(f"normalize must be a bool; got {self.normalize!r}.")
        path = self.model_name_or_path
        if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
            raise ValueError(
                f"model_name_or_path must be a local model directory; {path!r} is "
                "not a directory. Download hub models first (e.g. "
                "huggingface_hub.snapshot_download) and pass the directory."
            )

    def _path(self):
        return os.path.abspath(os.fspath(self.model_name_or_path))

    def _resolve_reference(self):
        self.weights_sha256_ = file_sha256(self._path())

    def _resource_key(self):
        return (
            "skmm.TransformerImageEncoder",
            self._path(),
            self.weights_sha256_,
            self.pooling,
            resolve_device(self.device),
        )

    def _build_backbone(self, verify=True):
        import torch
        from transformers import AutoImageProcessor, AutoModel

        path = self._path()
        if verify:
            self._verify_sha(path)
        device = resolve_device(self.device)
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        model.eval().to(device)
        backbone = {"net": model, "processor": processor}
        probe = decode_image(np.zeros((32, 32, 3), np.uint8))
        with torch.inference_mode():
            n_features = int(self._embed(backbone, [probe]).shape[1])
        backbone["n_features"] = n_features
        return backbone

    def _embed(self, backbone, images):
        model = backbone["net"]
        inputs = backbone["processor"](images=images, return_tensors="pt")
        pixel_values = inputs["pixel_values"].to(resolve_device(self.device))
        return _vision_features(model, pixel_values, self.pooling)

    def _loader(self):
        return functools.partial(decode_image, mode="RGB")

    def _encode_batch(self, items):
        import torch

        backbone = self._get_backbone()
        if backbone["net"].training:  # a shared backbone put in train mode elsewhere
            backbone["net"].eval()
        with torch_threads(), torch.inference_mode():
            features = self._embed(backbone, items).float()
            if self.normalize:
                features = torch.nn.functional.normalize(features, dim=1)
            return features.cpu().numpy()


def _vision_features(model, pixel_values, pooling):
    """Pooled image features of a transformers vision model (or dual encoder)."""
    if hasattr(model, "vision_model") and hasattr(model, "visual_projection"):
        # CLIPModel-like dual encoder: use the vision tower only.
        out = model.vision_model(pixel_values=pixel_values, return_dict=True)
        if pooling == "cls":
            return model.visual_projection(out.pooler_output)
        return out.last_hidden_state.mean(dim=1)
    out = model(pixel_values=pixel_values, return_dict=True)
    hidden = out.last_hidden_state
    if pooling == "mean":
        return hidden.mean(dim=(2, 3)) if hidden.ndim == 4 else hidden.mean(dim=1)
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
