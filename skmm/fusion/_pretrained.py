"""Pretrained backbones fine-tuned inside fusion networks.

:class:`PretrainedBranch` is a *branch spec*: it is accepted wherever a branch
name is (``FusionClassifier(branches={"text": PretrainedBranch(path)})``), it is
cloneable and ``get_params``-able like an estimator, and the one network builder
(:func:`skmm.fusion._branches.make_branch`) turns it into a
:class:`PretrainedBackbone` module when the network is built, i.e. in ``fit``.

Backbones and the blocks that feed them:

``kind="text"``
    A Hugging Face encoder (BERT, MiniLM, RoBERTa, ...) read from the token ids
    of :class:`~skmm.encoders.TokenSequenceEncoder` built with the model's own
    tokenizer (ids shifted by 2, 0 = padding, 1 = unknown). The branch restores
    the tokenizer's ids, adds its special tokens ([CLS]/[SEP], <s>/</s>, ...)
    and the attention mask, and trims each batch to its longest text.
``kind="image"``
    A Hugging Face vision model (ViT, CLIP vision tower, DINOv2, ...) read from
    the [0, 1] pixels of :class:`~skmm.encoders.PixelEncoder`; resized to the
    model's input size if needed and normalised with its processor's mean and
    standard deviation.
``kind="audio"``
    A Hugging Face speech model taking raw waveforms (wav2vec2, HuBERT, WavLM)
    read from a waveform block (fixed-length clips at the model's sample rate,
    see :func:`make_pretrained_pair`); normalised per clip like its feature
    extractor, with an attention mask over the non-padded samples when the
    model uses one.
``kind="torchvision"``
    A torchvision classification model (its classifier head dropped) with a
    local state-dict file, read from [0, 1] pixels normalised with the
    ImageNet statistics.

:func:`make_pretrained_pair` builds the matching encoder and branch from one
model path; :class:`WarmupLR` is the warm-up + decay learning-rate schedule
that fine-tuning wants (a skorch callback).
"""

import copy
import inspect
import math
import numbers
import os

import numpy as np
import torch
from skorch.callbacks import LRScheduler
from torch import nn

from skmm.utils._cache import get_resource, path_stamp, weights_fingerprint
from skmm.utils._layout import PAD_ID, UNKNOWN_ID
from skmm.utils._sklearn_compat import (
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = [
    "PretrainedBackbone",
    "PretrainedBranch",
    "WarmupLR",
    "make_pretrained_pair",
    "network_param_groups",
]

#: Backbone kinds.
KINDS = ("text", "image", "audio", "torchvision")
#: Fine-tuning modes.
TRAINABLE = ("none", "last_n", "all", "lora")

#: Token ids reserved by TokenSequenceEncoder (a tokenizer's id i is i + 2).
#: TokenSequenceEncoder reserves ids 0 (padding) and 1 (unknown): ids are shifted.
_PAD, _UNK, _SHIFT = PAD_ID, UNKNOWN_ID, UNKNOWN_ID + 1
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
#: Names of the module lists that hold a transformer's repeated layers.
_LAYER_LIST_NAMES = ("layer", "layers", "h", "block", "blocks")


# =============================================================================
# The branch spec
# =============================================================================
class PretrainedBranch:
    """Branch spec: fine-tune a pretrained backbone inside a fusion network.

    Pass it as the branch of a modality, e.g.
    ``FusionClassifier(branches={"text": PretrainedBranch(path)})``. The model
    is loaded when the network is built (in ``fit``), never at construction.
    The spec is a parameter object: ``clone``, ``get_params``/``set_params`` and
    ``repr`` work as for estimators, so ``GridSearchCV`` can tune it through the
    ``branches`` parameter (``param_grid={"branches": [{"text": spec1},
    {"text": spec2}]}``).

    Parameters
    ----------
    model_name_or_path : str or path-like
        ``kind`` in {"text", "image", "audio"}: a local Hugging Face model
        directory (loaded offline) or a hub name (transformers resolves it and
        honours ``HF_HUB_OFFLINE``). ``kind="torchvision"``: a torchvision model
        name (``torchvision.models.list_models()``), with ``weights``.
    kind : {"auto", "text", "image", "audio", "torchvision"}, default="auto"
        ``"auto"`` reads the model's config: a vision config (``image_size``)
        gives "image", a speech config (a convolutional waveform front end)
        "audio", anything else "text". A model name that torchvision knows and
        that is not a directory gives "torchvision".
    trainable : {"none", "last_n", "all", "lora"}, default="last_n"
        Which backbone parameters train:

        - ``"none"``: frozen (eval mode, no gradients); only the fusion trains.
        - ``"last_n"``: the last ``n_trainable_layers`` layers of the backbone
          and whatever follows them (final norm, pooler).
        - ``"all"``: every parameter.
        - ``"lora"``: low-rank adapters (``peft``, ``pip install skmm[lora]``)
          on ``lora_target_modules``; the pretrained weights stay frozen.
    n_trainable_layers : int, default=2
        Layers trained with ``trainable="last_n"`` (0: only what follows the
        last layer). A transformer's layers are its repeated blocks; a
        torchvision model's are its top-level stages, the largest one split
        into its blocks.
    backbone_lr : float, default=None
        Learning rate of the backbone's parameters (the top layer with
        ``layer_lr_decay``). None: the network's ``lr``. Fine-tuning a whole
        transformer usually wants 1e-5 to 1e-4; LoRA adapters tolerate the
        network's 1e-3.
    layer_lr_decay : float in (0, 1], default=None
        Layer-wise learning-rate decay: layer ``i`` from the top trains at
        ``backbone_lr * layer_lr_decay ** i``, the embeddings at
        ``backbone_lr * layer_lr_decay ** n_layers``. None means 1.
    lora_rank : int, default=8
        Rank of the LoRA update matrices (``trainable="lora"``).
    lora_alpha : float, default=16
        LoRA scaling: the update is multiplied by ``lora_alpha / lora_rank``.
    lora_dropout : float, default=0.0
        Dropout on the LoRA branch's input.
    lora_target_modules : str, list of str or None, default=None
        Module names (or ``"all-linear"``) adapted by LoRA. None: peft's
        default for the architecture when it has one, else every linear layer
        (transformers) or every convolution and linear layer (torchvision).
    gradient_checkpointing : bool, default=False
        Recompute activations in the backward pass instead of storing them
        (transformers models only): less memory for about a third more time.
    pooling : {"auto", "mean", "cls", "pooler"}, default="auto"
        ``"mean"``: the backbone emits its token (frame, patch) states and the
        network pools them with a masked mean -- the attention fusion attends
        over them instead. ``"cls"``: the first token's state. ``"pooler"``:
        the model's ``pooler_output``. ``"auto"``: ``"mean"`` for text and
        audio (like sentence-transformers), ``"cls"`` for images.
        Torchvision backbones always emit their pooled features.
    weights : str or path-like, default=None
        ``kind="torchvision"`` only: a local ``.pth``/``.pt``/``.safetensors``
        state dict (read with ``weights_only=True``). None is a random
        initialisation (for tests; not a pretrained model).
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
        Autocast dtype of the backbone's forward pass. ``"auto"``: bf16 on a
        CUDA device that supports it (else fp16), fp32 on CPU. ``"bf16"`` also
        runs on CPU.

    See Also
    --------
    make_pretrained_pair : The matching encoder and branch from one path.
    WarmupLR : Warm-up and decay of the learning rate.

    Notes
    -----
    Persistence: a fitted network pickles its fine-tuned parameters and every
    buffer; frozen pretrained weights stay a reference (path + sha256 of the
    weight files, checked when the pickle is loaded). With ``trainable="all"``
    nothing is frozen and the pickle needs no checkpoint at all.

    Examples
    --------
    >>> from sklearn.base import clone
    >>> from skmm.fusion import PretrainedBranch
    >>> spec = PretrainedBranch("path/to/model", trainable="lora", lora_rank=4)
    >>> spec
    PretrainedBranch('path/to/model', lora_rank=4, trainable='lora')
    >>> clone(spec).set_params(lora_rank=2).get_params()["lora_rank"]
    2
    """

    _parameter_constraints = {
        "model_name_or_path": [str, os.PathLike],
        "kind": [StrOptions({"auto", *KINDS})],
        "trainable": [StrOptions(set(TRAINABLE))],
        "n_trainable_layers": [Interval(numbers.Integral, 0, None, closed="left")],
        "backbone_lr": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "layer_lr_decay": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "lora_rank": [Interval(numbers.Integral, 1, None, closed="left")],
        "lora_alpha": [Interval(numbers.Real, 0, None, closed="neither")],
        "lora_dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "lora_target_modules": [str, list, tuple, None],
        "gradient_checkpointing": ["boolean"],
        "pooling": [StrOptions({"auto", "mean", "cls", "pooler"})],
        "weights": [str, os.PathLike, None],
        "precision": [StrOptions({"auto", "fp32", "bf16", "fp16"})],
    }

    def __init__(
        self,
        model_name_or_path,
        *,
        kind="auto",
        trainable="last_n",
        n_trainable_layers=2,
        backbone_lr=None,
        layer_lr_decay=None,
        lora_rank=8,
        lora_alpha=16,
        lora_dropout=0.0,
        lora_target_modules=None,
        gradient_checkpointing=False,
        pooling="auto",
        weights=None,
        precision="auto",
    ):
        self.model_name_or_path = model_name_or_path
        self.kind = kind
        self.trainable = trainable
        self.n_trainable_layers = n_trainable_layers
        self.backbone_lr = backbone_lr
        self.layer_lr_decay = layer_lr_decay
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha
        self.lora_dropout = lora_dropout
        self.lora_target_modules = lora_target_modules
        self.gradient_checkpointing = gradient_checkpointing
        self.pooling = pooling
        self.weights = weights
        self.precision = precision

    # -- parameter protocol (like sklearn's BaseEstimator) ----------------------
    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p for p in signature.parameters if p != "self")

    def get_params(self, deep=True):
        """Get the parameters of the spec.

        Parameters
        ----------
        deep : bool, default=True
            Accepted for scikit-learn; a spec has no nested estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params):
        """Set the parameters of the spec.

        Parameters
        ----------
        **params : dict
            Parameter names and their new values.

        Returns
        -------
        self : PretrainedBranch
            The spec, updated.
        """
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for {type(self).__name__}; valid "
                    f"parameters are {valid}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self):
        signature = inspect.signature(type(self).__init__)
        args = [repr(self.model_name_or_path)]
        for name in self._get_param_names():
            if name == "model_name_or_path":
                continue
            value = getattr(self, name)
            default = signature.parameters[name].default
            if value is default or (
                not isinstance(value, (list, tuple, np.ndarray)) and value == default
            ):
                continue
            args.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(args)})"

    def __sklearn_clone__(self):
        return type(self)(**copy.deepcopy(self.get_params()))

    # -- used by the network builder --------------------------------------------
    def validate(self):
        """Check the parameters (called when the network is built).

        Returns
        -------
        kind : str
            The resolved backbone kind.
        """
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(),
            caller_name=type(self).__name__,
        )
        kind = self.resolve_kind()
        if self.weights is not None and kind != "torchvision":
            raise ValueError(
                f"PretrainedBranch: weights= is for kind='torchvision'; a {kind!r} "
                "model's weights are in its directory."
            )
        if self.gradient_checkpointing and kind == "torchvision":
            raise ValueError(
                "PretrainedBranch: gradient_checkpointing is supported for "
                "transformers models, not torchvision ones."
            )
        if kind == "torchvision" and self.pooling not in ("auto", "mean"):
            raise ValueError(
                "PretrainedBranch: a torchvision backbone emits pooled features; "
                f"pooling={self.pooling!r} does not apply (use 'auto')."
            )
        if self.trainable == "lora":
            _import_peft()
        return kind

    def resolve_kind(self):
        """Resolve the backbone kind, reading the model config for ``kind="auto"``.

        Returns
        -------
        kind : {"text", "image", "audio", "torchvision"}
            The backbone kind.
        """
        if self.kind != "auto":
            return self.kind
        return _detect_kind(self.model_name_or_path)

    @property
    def block_kind(self):
        """How the network reads the block: ``"tokens"`` or ``"raw"``."""
        return "tokens" if self.resolve_kind() == "text" else "raw"

    def build(self, input_size, input_shape=None):
        """The backbone module for a block of ``input_size`` columns.

        Parameters
        ----------
        input_size : int
            Block width.
        input_shape : tuple of int, default=None
            Grid shape of the block (``(C, H, W)`` pixels); for image kinds a
            square RGB image is assumed when None.

        Returns
        -------
        module : PretrainedBackbone
            The backbone wrapped for the fusion network, with the trainable
            mode applied.
        """
        kind = self.validate()
        cls = {
            "text": _TextBackbone,
            "image": _ImageBackbone,
            "audio": _AudioBackbone,
            "torchvision": _TorchvisionBackbone,
        }[kind]
        return cls(self, int(input_size), input_shape)


def _import_peft():
    try:
        import peft
    except ImportError as exc:
        raise ImportError(
            "trainable='lora' needs the optional dependency peft: "
            "`pip install skmm[lora]` (or `pip install peft`)."
        ) from exc
    return peft


def _is_torchvision_name(name):
    try:
        from torchvision.models import list_models
    except ImportError:  # pragma: no cover - torchvision is a dependency
        return False
    return isinstance(name, str) and name in list_models()


def _resolve_path(name_or_path):
    """``(path, local)``: a torchvision model name, or a transformers model.

    Transformers models resolve through the encoders' one resolver
    (:func:`skmm.encoders._pretrained.resolve_hf_model`): a local directory, or
    a hub name's snapshot in the local cache (failing fast when offline).
    """
    from skmm.encoders._pretrained import resolve_hf_model

    if (
        isinstance(name_or_path, str)
        and not os.path.isdir(os.path.expanduser(name_or_path))
        and _is_torchvision_name(name_or_path)
    ):
        return name_or_path, False
    _, directory = resolve_hf_model(
        name_or_path, param="model_name_or_path", owner="PretrainedBranch"
    )
    return directory, True


def _detect_kind(name_or_path):
    path, local = _resolve_path(name_or_path)
    if not local and _is_torchvision_name(path):
        return "torchvision"
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=local)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"PretrainedBranch(kind='auto') cannot read a transformers config from "
            f"{path!r} ({exc}); pass kind= explicitly."
        ) from None
    if getattr(config, "vision_config", None) is not None and not hasattr(
        config, "text_config"
    ):
        return "image"
    if hasattr(config, "image_size"):
        return "image"
    if getattr(config, "conv_kernel", None) or "audio" in config.model_type:
        return "audio"
    return "text"


# =============================================================================
# Loading (cached per process) and fingerprints
# =============================================================================
def _hf_quiet():
    from skmm.utils._torch import hf_progress

    return hf_progress(verbose=0)


def _load_hf(kind, path, local):
    from transformers import (
        AutoFeatureExtractor,
        AutoImageProcessor,
        AutoModel,
        AutoTokenizer,
    )

    try:
        with _hf_quiet():
            if kind == "text":
                helper = AutoTokenizer.from_pretrained(path, local_files_only=local)
            elif kind == "image":
                helper = AutoImageProcessor.from_pretrained(
                    path, local_files_only=local
                )
            else:
                helper = AutoFeatureExtractor.from_pretrained(
                    path, local_files_only=local
                )
            model = AutoModel.from_pretrained(path, local_files_only=local)
    except (OSError, ValueError) as exc:
        raise OSError(
            f"PretrainedBranch could not load a transformers {kind} model from "
            f"{path!r}: {exc}"
        ) from exc
    model = _unwrap(kind, model)
    model.eval()
    sha = weights_fingerprint(path) if local else None
    return {"model": model, "helper": helper, "sha256": sha}


def _unwrap(kind, model):
    if kind == "image" and hasattr(model, "vision_model"):
        return model.vision_model  # a CLIP-like model: its vision tower
    return model


def _torchvision_net(name, n_classes=None):
    from torchvision.models import get_model

    kwargs = {} if n_classes is None else {"num_classes": int(n_classes)}
    return get_model(name, weights=None, **kwargs)


def _load_torchvision(name, weights):
    from skmm.encoders._image import _last_linear, _read_state_dict, _replace_module

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = _torchvision_net(name)
        head = _last_linear(net)
        n_classes = None
        if weights is not None:
            state = _read_state_dict(weights)
            if head is not None and f"{head}.weight" in state:
                n_classes = state[f"{head}.weight"].shape[0]
                if n_classes != net.get_submodule(head).out_features:
                    net = _torchvision_net(name, n_classes)
            elif head is not None:
                _replace_module(net, head, nn.Identity())
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise ValueError(
                    f"the state_dict in {weights!r} does not match torchvision "
                    f"model {name!r}: {exc}"
                ) from None
    if head is None:
        raise ValueError(f"torchvision model {name!r} has no linear head to drop.")
    _replace_module(net, head, nn.Identity())
    net.eval()
    sha = weights_fingerprint(weights) if weights is not None else None
    return {"model": net, "helper": n_classes, "sha256": sha}


def _load_pristine(kind, reference):
    """The pretrained model as loaded (cached per process; callers copy it)."""
    if kind == "torchvision":
        name, weights = reference["path"], reference["weights"]
        key = ("skmm.PretrainedBranch", kind, name, weights, path_stamp(weights or ""))
        return get_resource(key, lambda: _load_torchvision(name, weights))
    path, local = reference["path"], reference["local"]
    key = ("skmm.PretrainedBranch", kind, path, path_stamp(path) if local else ())
    return get_resource(key, lambda: _load_hf(kind, path, local))


# =============================================================================
# Backbone modules
# =============================================================================
def _set_param(model, name, value):
    prefix, _, leaf = name.rpartition(".")
    owner = model.get_submodule(prefix) if prefix else model
    if leaf in owner._parameters:
        owner._parameters[leaf] = value
    else:
        owner._buffers[leaf] = value


class PretrainedBackbone(nn.Module):
    """A pretrained model as a fusion branch (built by :class:`PretrainedBranch`).

    Attributes
    ----------
    model : nn.Module
        The (copied) pretrained model, with LoRA adapters for ``"lora"``.
    output_size : int
        Width of the emitted states.
    n_layers : int
        Number of layers found (the unit of ``last_n`` and of the lr decay).
    reference : dict
        ``kind``, ``path``, ``weights`` and ``sha256`` of the checkpoint.
    """

    kind = None

    def __init__(self, spec, input_size, input_shape):
        super().__init__()
        self.params = spec.get_params()
        self.input_size = input_size
        self.input_shape = None if input_shape is None else tuple(input_shape)
        if self.kind == "torchvision":
            weights = spec.weights
            weights = None if weights is None else os.path.abspath(os.fspath(weights))
            if weights is not None and not os.path.isfile(weights):
                raise ValueError(f"weights file {weights!r} does not exist.")
            path, local = spec.model_name_or_path, False
        else:
            path, local = _resolve_path(spec.model_name_or_path)
            weights = None
        self.reference = {"path": path, "local": local, "weights": weights}
        pristine = _load_pristine(self.kind, self.reference)
        self.reference["sha256"] = pristine["sha256"]
        model = copy.deepcopy(pristine["model"])
        self._setup(model, pristine["helper"])
        self.model = model
        self._configure()

    # -- subclass hooks -----------------------------------------------------------
    def _setup(self, model, helper):  # pragma: no cover - abstract
        raise NotImplementedError

    def _forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- trainable mode -------------------------------------------------------------
    def _layers(self):
        """``(name, module)`` of the repeated layers, bottom to top."""
        best = None
        for name, module in self.model.named_modules():
            if isinstance(module, nn.ModuleList) and len(module) > 0:
                if name.rpartition(".")[2] in _LAYER_LIST_NAMES and (
                    best is None or len(module) > len(best[1])
                ):
                    best = (name, module)
        if best is None:
            return []
        return [(f"{best[0]}.{i}", layer) for i, layer in enumerate(best[1])]

    def _configure(self):
        trainable = self.params["trainable"]
        model = self.model
        model.requires_grad_(trainable == "all")
        layers = self._layers()
        self.n_layers = len(layers)
        if trainable == "last_n":
            n = self.params["n_trainable_layers"]
            if n > len(layers):
                raise ValueError(
                    f"PretrainedBranch: n_trainable_layers={n} but "
                    f"{self.params['model_name_or_path']!r} has {len(layers)} "
                    "layers."
                )
            first_trained = len(layers) - n
            names = [name for name, _ in model.named_parameters()]
            layer_starts = [
                next(i for i, p in enumerate(names) if p.startswith(lname + "."))
                for lname, _ in layers
            ]
            start = layer_starts[first_trained] if n else None
            if start is None:  # only what follows the last layer
                last = layers[-1][0] + "." if layers else None
                idx = [i for i, p in enumerate(names) if last and p.startswith(last)]
                start = (idx[-1] + 1) if idx else len(names)
            trained = set(names[start:])
            for name, param in model.named_parameters():
                param.requires_grad_(name in trained)
        elif trainable == "lora":
            self._inject_lora()
        if self.params["gradient_checkpointing"] and trainable != "none":
            if not getattr(model, "supports_gradient_checkpointing", False):
                raise ValueError(
                    f"PretrainedBranch: {type(model).__name__} does not support "
                    "gradient checkpointing."
                )
            kwargs = {"use_reentrant": False}  # gradients reach frozen inputs
            if hasattr(model, "activation_checkpointing_enable"):  # transformers 5
                model.activation_checkpointing_enable(
                    activation_checkpointing_kwargs=kwargs
                )
            else:
                model.gradient_checkpointing_enable(
                    gradient_checkpointing_kwargs=kwargs
                )
        # layer index of every parameter, for the layer-wise lr decay:
        # 0 = below the layers (embeddings), i = layer i, n + 1 = above
        self._depth = {}
        seen_layer = False
        for name, _ in model.named_parameters():
            depth = None
            for i, (lname, _) in enumerate(layers):
                if name.startswith(lname + "."):
                    depth, seen_layer = i + 1, True
                    break
            if depth is None:
                depth = len(layers) + 1 if seen_layer else 0
            self._depth[name] = depth
        self.train(self.training)

    def _lora_targets(self):
        targets = self.params["lora_target_modules"]
        if targets is not None:
            return list(targets) if isinstance(targets, tuple) else targets
        if self.kind == "torchvision":
            return [
                name
                for name, module in self.model.named_modules()
                if isinstance(module, nn.Linear)
                or (isinstance(module, nn.Conv2d) and module.groups == 1)
            ]
        from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

        model_type = getattr(getattr(self.model, "config", None), "model_type", None)
        default = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type)
        if default:
            return list(default)
        return [
            name
            for name, module in self.model.named_modules()
            if isinstance(module, nn.Linear)
        ]

    def _inject_lora(self):
        peft = _import_peft()
        config = peft.LoraConfig(
            r=self.params["lora_rank"],
            lora_alpha=self.params["lora_alpha"],
            lora_dropout=self.params["lora_dropout"],
            target_modules=self._lora_targets(),
        )
        try:
            model = peft.inject_adapter_in_model(config, self.model)
        except ValueError as exc:
            raise ValueError(
                f"PretrainedBranch: LoRA could not adapt "
                f"{self.params['model_name_or_path']!r}: {exc}"
            ) from None
        for name, param in model.named_parameters():
            param.requires_grad_("lora_" in name)
        self.model = model

    def train(self, mode=True):
        super().train(mode)
        if self.params["trainable"] == "none":
            self.model.eval()
        elif mode:
            # frozen normalisation layers keep their running statistics
            for module in self.model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
                    p.requires_grad for p in module.parameters(recurse=False)
                ):
                    module.eval()
        return self

    # -- optimizer -----------------------------------------------------------------
    def param_groups(self, lr):
        """Optimizer parameter groups of the trainable backbone parameters.

        Parameters
        ----------
        lr : float
            The network's learning rate (used when ``backbone_lr`` is None).

        Returns
        -------
        groups : list of dict
            ``{"params": [...], "lr": ...}``, one per distinct learning rate,
            bottom layers first.
        """
        base = self.params["backbone_lr"]
        base = lr if base is None else base
        decay = self.params["layer_lr_decay"]
        decay = 1.0 if decay is None else decay
        by_depth = {}
        for name, param in self.model.named_parameters():
            if param.requires_grad:
                by_depth.setdefault(self._depth.get(name, 0), []).append(param)
        by_lr = {}
        for depth in sorted(by_depth):
            scale = decay ** max(0, self.n_layers - depth)
            by_lr.setdefault(base * scale, []).extend(by_depth[depth])
        return [{"params": params, "lr": lr} for lr, params in by_lr.items()]

    # -- forward -----------------------------------------------------------------
    def _autocast(self, device):
        precision = self.params["precision"]
        if precision == "auto":
            if device.type != "cuda":
                precision = "fp32"
            elif torch.cuda.is_bf16_supported():
                precision = "bf16"
            else:
                precision = "fp16"
        if precision == "fp32":
            return torch.autocast(device.type, enabled=False)
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return torch.autocast(device.type, dtype=dtype)

    def forward(self, x):
        grad = self.params["trainable"] != "none" and torch.is_grad_enabled()
        with torch.set_grad_enabled(grad), self._autocast(x.device):
            out = self._forward(x)
        if isinstance(out, tuple):
            return out[0].float(), out[1]
        return out.float()

    def _pool(self, hidden, valid, output):
        pooling = self.pooling
        if pooling == "cls":
            return hidden[:, 0]
        if pooling == "pooler":
            pooled = getattr(output, "pooler_output", None)
            if pooled is None:
                raise ValueError(
                    f"pooling='pooler': {type(self.model).__name__} has no "
                    "pooler_output; use 'mean' or 'cls'."
                )
            return pooled
        return hidden, valid

    # -- persistence -----------------------------------------------------------------
    def _has_frozen(self):
        return any(not p.requires_grad for p in self.model.parameters())

    def __getstate__(self):
        state = self.__dict__.copy()
        modules = dict(state["_modules"])
        model = modules.pop("model")
        state["_modules"] = modules
        # the fine-tuned parameters themselves (same objects as the optimizer's)
        # and every buffer; frozen parameters are a reference to the checkpoint
        state["_model_state"] = {
            name: param
            for name, param in model.named_parameters()
            if param.requires_grad or self.params["trainable"] == "all"
        }
        state["_model_buffers"] = dict(model.named_buffers())
        state["_model_config"] = (
            getattr(model, "config", None),
            self.params["trainable"] == "all",
        )
        return state

    def __setstate__(self, state):
        params = state.pop("_model_state", None)
        buffers = state.pop("_model_buffers", None)
        config, complete = state.pop("_model_config", (None, False))
        super().__setstate__(state)
        if params is None:  # a plain copy, model included
            return
        with torch.random.fork_rng(devices=[]):
            self.model = self._rebuild_model(config, complete)
            self._configure()
        device = None
        for name, value in list(params.items()) + list(buffers.items()):
            device = value.device
            _set_param(self.model, name, value)
        if device is not None:
            # the rebuilt frozen parts follow the stored tensors' device
            for name, param in self.model.named_parameters():
                if param.device != device:
                    _set_param(
                        self.model,
                        name,
                        nn.Parameter(param.data.to(device), requires_grad=False),
                    )
        self.train(self.training)

    def _rebuild_model(self, config, complete):
        reference = self.reference
        # nothing frozen: the architecture is enough, no checkpoint is needed
        if complete and self.kind == "torchvision":
            from skmm.encoders._image import _last_linear, _replace_module

            net = _torchvision_net(reference["path"], self.n_classes)
            _replace_module(net, _last_linear(net), nn.Identity())
            return net
        if complete and config is not None:
            from transformers import AutoModel

            return _unwrap(self.kind, AutoModel.from_config(config))
        pristine = _load_pristine(self.kind, reference)
        if pristine["sha256"] != reference["sha256"]:
            where = reference["weights"] or reference["path"]
            raise ValueError(
                f"The pretrained weights at {where!r} changed since this model was "
                f"fitted (sha256 {str(pristine['sha256'])[:12]}... != recorded "
                f"{str(reference['sha256'])[:12]}...); its frozen parameters are "
                "read from there. Restore the checkpoint or refit."
            )
        return copy.deepcopy(pristine["model"])


class _TextBackbone(PretrainedBackbone):
    kind = "text"

    def _setup(self, model, tokenizer):
        shape = self.input_shape
        if shape is not None and len(shape) != 1:
            raise ValueError(
                f"A text PretrainedBranch reads a 1-D block of token ids "
                f"(TokenSequenceEncoder); got shape {shape}."
            )
        probe = tokenizer("a", add_special_tokens=False)["input_ids"]
        full = tokenizer("a", add_special_tokens=True)["input_ids"]
        start = next(
            (i for i in range(len(full)) if full[i : i + len(probe)] == probe), None
        )
        if start is None:
            prefix, suffix = [], []
        else:
            prefix, suffix = full[:start], full[start + len(probe) :]
        pad = tokenizer.pad_token_id
        unk = tokenizer.unk_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self.unk_id = int(unk if unk is not None else self.pad_id)
        self.register_buffer("prefix", torch.tensor(prefix, dtype=torch.long))
        self.register_buffer("suffix", torch.tensor(suffix, dtype=torch.long))
        config = model.config
        self.vocab_size = int(model.get_input_embeddings().num_embeddings)
        limit = getattr(config, "max_position_embeddings", None)
        n_special = len(prefix) + len(suffix)
        if limit and self.input_size + n_special > limit:
            raise ValueError(
                f"The token block has {self.input_size} positions; with "
                f"{n_special} special tokens the model accepts at most "
                f"{limit - n_special}. Use TokenSequenceEncoder(max_length="
                f"{limit - n_special})."
            )
        self.pooling = (
            "mean" if self.params["pooling"] == "auto" else (self.params["pooling"])
        )
        self.output_size = int(config.hidden_size)

    def _forward(self, x):
        ids = x.long()
        valid = ids != _PAD
        lengths = valid.sum(1)
        width = max(int(lengths.max()), 1) if len(ids) else 1
        ids, valid = ids[:, :width], valid[:, :width]
        hf = torch.where(ids == _UNK, self.unk_id, ids - _SHIFT)
        hf = torch.where(valid, hf, self.pad_id)
        if bool((hf >= self.vocab_size).any()):
            raise ValueError(
                f"A token id exceeds the vocabulary of the text backbone "
                f"({self.vocab_size} tokens): encode the text with "
                "TokenSequenceEncoder(tokenizer=<the same model path>)."
            )
        n, n_pre, n_suf = ids.shape[0], len(self.prefix), len(self.suffix)
        total = n_pre + width + n_suf
        seq = torch.full((n, total), self.pad_id, dtype=torch.long, device=x.device)
        seq[:, :n_pre] = self.prefix
        seq[:, n_pre : n_pre + width] = hf
        if n_suf:
            rows = torch.arange(n, device=x.device)[:, None]
            cols = (n_pre + lengths)[:, None] + torch.arange(n_suf, device=x.device)
            seq[rows, cols] = self.suffix.expand(n, -1)
        mask = (
            torch.arange(total, device=x.device)[None]
            < (n_pre + lengths + n_suf)[:, None]
        )
        output = self.model(input_ids=seq, attention_mask=mask.long())
        return self._pool(output.last_hidden_state, mask, output)


def _processor_stats(processor):
    mean = getattr(processor, "image_mean", None)
    std = getattr(processor, "image_std", None)
    if not getattr(processor, "do_normalize", True) or mean is None or std is None:
        return None, None
    return list(np.broadcast_to(mean, 3)), list(np.broadcast_to(std, 3))


def _processor_size(processor, config):
    size = (
        getattr(processor, "crop_size", None)
        if getattr(processor, "do_center_crop", False)
        else None
    )
    size = size or getattr(processor, "size", None)
    get = size.get if hasattr(size, "get") else (lambda k, d=None: d)
    height, width = get("height"), get("width")
    if height is None:
        edge = get("shortest_edge")
        height = width = edge
    if height is None:
        image_size = getattr(config, "image_size", 224)
        height = width = image_size if isinstance(image_size, int) else image_size[0]
    return int(height), int(width)


class _PixelMixin:
    def _pixel_setup(self, channels, size, mean, std):
        shape = self.input_shape
        if shape is None:
            side = math.isqrt(self.input_size // 3)
            shape = (3, side, side)
        if len(shape) == 2:
            shape = (1, *shape)
        if (
            len(shape) != 3
            or math.prod(shape) != self.input_size
            or shape[0]
            not in (
                1,
                3,
            )
        ):
            raise ValueError(
                f"An image PretrainedBranch reads (C, H, W) pixels in [0, 1] with "
                f"C in (1, 3) (PixelEncoder); got a block of {self.input_size} "
                f"columns with shape {shape}."
            )
        self.grid_shape = tuple(int(s) for s in shape)
        self.model_channels = int(channels)
        self.model_size = None if size is None else tuple(size)
        if mean is not None:
            self.register_buffer(
                "pixel_mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
            )
            self.register_buffer(
                "pixel_std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
            )
        else:
            self.pixel_mean = self.pixel_std = None

    def _pixels(self, x):
        pixels = x.view(x.shape[0], *self.grid_shape)
        if pixels.shape[1] == 1 and self.model_channels == 3:
            pixels = pixels.expand(-1, 3, -1, -1)
        if self.model_size is not None and tuple(pixels.shape[2:]) != self.model_size:
            pixels = nn.functional.interpolate(
                pixels, size=self.model_size, mode="bilinear", antialias=True
            )
        if self.pixel_mean is not None:
            pixels = (pixels - self.pixel_mean) / self.pixel_std
        return pixels


class _ImageBackbone(_PixelMixin, PretrainedBackbone):
    kind = "image"

    def _setup(self, model, processor):
        config = model.config
        mean, std = _processor_stats(processor)
        self._pixel_setup(
            getattr(config, "num_channels", 3),
            _processor_size(processor, config),
            mean,
            std,
        )
        self.pooling = (
            "cls" if self.params["pooling"] == "auto" else (self.params["pooling"])
        )
        self.output_size = int(
            getattr(config, "hidden_size", None) or config.hidden_sizes[-1]
        )

    def _forward(self, x):
        output = self.model(pixel_values=self._pixels(x))
        hidden = output.last_hidden_state
        if hidden.dim() == 4:  # convolutional maps: positions as tokens
            hidden = hidden.flatten(2).transpose(1, 2)
        valid = torch.ones(hidden.shape[:2], dtype=torch.bool, device=x.device)
        return self._pool(hidden, valid, output)


class _AudioBackbone(PretrainedBackbone):
    kind = "audio"

    def _setup(self, model, extractor):
        from skmm.encoders._audio import _min_input_samples

        names = getattr(extractor, "model_input_names", ["input_values"])
        if "input_values" not in names:
            raise ValueError(
                f"An audio PretrainedBranch needs a model that reads raw waveforms "
                f"(input_values: wav2vec2, HuBERT, WavLM); {type(model).__name__} "
                f"reads {names}."
            )
        min_samples = _min_input_samples(model.config)
        if self.input_size < min_samples:
            raise ValueError(
                f"The waveform block has {self.input_size} samples; the model needs "
                f"at least {min_samples}."
            )
        self.normalize = bool(getattr(extractor, "do_normalize", False))
        self.use_mask = bool(getattr(extractor, "return_attention_mask", False))
        self.sampling_rate = int(getattr(extractor, "sampling_rate", 16000))
        self.pooling = (
            "mean" if self.params["pooling"] == "auto" else (self.params["pooling"])
        )
        self.output_size = int(model.config.hidden_size)

    def _forward(self, x):
        length = x.shape[1]
        positions = torch.arange(length, device=x.device)
        nonzero = x != 0
        # padded clips end with exact zeros: their length is the last non-zero
        last = torch.where(nonzero, positions, -1).max(dim=1).values + 1
        lengths = last.clamp_min(1)
        mask = positions[None] < lengths[:, None]
        wave = x
        if self.normalize:
            weight = mask.to(x.dtype) if self.use_mask else torch.ones_like(x)
            count = weight.sum(1, keepdim=True)
            mean = (x * weight).sum(1, keepdim=True) / count
            var = (((x - mean) * weight) ** 2).sum(1, keepdim=True) / count
            wave = (x - mean) / torch.sqrt(var + 1e-7) * weight
        kwargs = {"attention_mask": mask.long()} if self.use_mask else {}
        output = self.model(input_values=wave, **kwargs)
        hidden = output.last_hidden_state
        frames = torch.arange(hidden.shape[1], device=x.device)
        if self.use_mask:
            n_frames = self.model._get_feat_extract_output_lengths(lengths)
            valid = frames[None] < n_frames[:, None]
        else:
            valid = torch.ones(hidden.shape[:2], dtype=torch.bool, device=x.device)
        return self._pool(hidden, valid, output)


class _TorchvisionBackbone(_PixelMixin, PretrainedBackbone):
    kind = "torchvision"

    def _setup(self, model, n_classes):
        self.n_classes = n_classes
        self._pixel_setup(3, None, _IMAGENET_MEAN, _IMAGENET_STD)
        self.pooling = "features"
        with torch.no_grad():
            was_training = model.training
            model.eval()
            probe = torch.zeros(1, *self.grid_shape)
            probe = probe.expand(-1, 3, -1, -1) if self.grid_shape[0] == 1 else probe
            out = model(probe)
            model.train(was_training)
        self.output_size = int(out.reshape(1, -1).shape[1])

    def _layers(self):
        units = [
            (name, module)
            for name, module in self.model.named_children()
            if any(True for _ in module.parameters())
        ]
        total = sum(p.numel() for p in self.model.parameters())
        while True:
            sizes = [sum(p.numel() for p in m.parameters()) for _, m in units]
            k = int(np.argmax(sizes)) if sizes else 0
            if not units or sizes[k] < 0.5 * total:
                return units
            children = [
                (f"{units[k][0]}.{name}", module)
                for name, module in units[k][1].named_children()
                if any(True for _ in module.parameters())
            ]
            if len(children) < 2:
                return units
            units = units[:k] + children + units[k + 1 :]

    def _forward(self, x):
        out = self.model(self._pixels(x))
        return out.reshape(out.shape[0], -1)


# =============================================================================
# Optimizer groups of a whole network
# =============================================================================
def network_param_groups(module, lr, named_parameters=None):
    """Optimizer parameter groups of a network holding pretrained backbones.

    Every trainable parameter appears once: those of each
    :class:`PretrainedBackbone` in the groups it defines (``backbone_lr``,
    layer-wise decay), all others in one group at ``lr``. Frozen parameters
    are left out of the optimizer.

    Parameters
    ----------
    module : nn.Module
    lr : float
    named_parameters : iterable of (str, Parameter), default=None
        The candidates (default: ``module.named_parameters()``).

    Returns
    -------
    groups : list of dict
    """
    if named_parameters is None:
        named_parameters = module.named_parameters()
    candidates = [p for _, p in named_parameters if p.requires_grad]
    wanted = {id(p) for p in candidates}
    taken, groups = set(), []
    for sub in module.modules():
        if isinstance(sub, PretrainedBackbone):
            for group in sub.param_groups(lr):
                params = [p for p in group["params"] if id(p) in wanted]
                taken.update(id(p) for p in params)
                if params:
                    groups.append({**group, "params": params})
    rest = [p for p in candidates if id(p) not in taken]
    if rest:
        groups.insert(0, {"params": rest, "lr": lr})
    return groups


# =============================================================================
# Learning-rate schedule
# =============================================================================
class _WarmupDecay:
    """``LambdaLR`` factor: linear warm-up, then linear/cosine/constant."""

    def __init__(self, warmup_steps, total_steps, decay, min_ratio):
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.decay = decay
        self.min_ratio = min_ratio

    def __call__(self, step):
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        if self.decay == "constant":
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        if self.decay == "linear":
            factor = 1.0 - progress
        else:
            factor = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_ratio + (1.0 - self.min_ratio) * factor


class WarmupLR(LRScheduler):
    """Warm-up then decay of every parameter group's learning rate, per batch.

    A skorch :class:`~skorch.callbacks.LRScheduler` over torch's ``LambdaLR``:
    the learning rates rise linearly from about 0 to their values (``lr``,
    ``backbone_lr``, the layer-decayed rates) over the first ``warmup`` of the
    training steps, then decay to ``min_lr_ratio`` times their values by the
    last step (``max_epochs`` x batches per epoch, counted on the training
    split). Pass it in ``callbacks=``.

    Parameters
    ----------
    warmup : float in [0, 1) or int, default=0.1
        Fraction of the training steps (float) or number of steps (int).
    decay : {"linear", "cosine", "constant"}, default="linear"
        Shape of the decay after the warm-up.
    min_lr_ratio : float, default=0.0
        Final learning rates, as a fraction of the initial ones.

    Examples
    --------
    >>> from skorch.callbacks import GradientNormClipping
    >>> from skmm.fusion import FusionClassifier, WarmupLR
    >>> clf = FusionClassifier(callbacks=[WarmupLR(0.1, "cosine"),
    ...                                   GradientNormClipping(1.0)])
    >>> f = WarmupLR(warmup=2, decay="linear")._factor(10)
    >>> [round(f(s), 2) for s in range(0, 10, 3)]
    [0.33, 0.88, 0.5, 0.12]
    """

    def __init__(self, warmup=0.1, decay="linear", min_lr_ratio=0.0):
        self.warmup = warmup
        self.decay = decay
        self.min_lr_ratio = min_lr_ratio
        super().__init__(policy=torch.optim.lr_scheduler.LambdaLR, step_every="batch")

    @property
    def kwargs(self):
        """Keyword arguments of the torch scheduler (none: see ``on_train_begin``)."""
        return {}

    def _factor(self, total_steps):
        if self.decay not in ("linear", "cosine", "constant"):
            raise ValueError(
                f"WarmupLR: decay must be 'linear', 'cosine' or 'constant'; got "
                f"{self.decay!r}."
            )
        warmup = self.warmup
        if isinstance(warmup, numbers.Integral) and not isinstance(warmup, bool):
            steps = int(warmup)
        elif isinstance(warmup, numbers.Real) and 0 <= warmup < 1:
            steps = round(warmup * total_steps)
        else:
            raise ValueError(
                f"WarmupLR: warmup must be a fraction in [0, 1) or a number of "
                f"steps; got {warmup!r}."
            )
        return _WarmupDecay(steps, total_steps, self.decay, float(self.min_lr_ratio))

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Build the schedule from the number of training steps of this fit.

        Parameters
        ----------
        net : skorch.NeuralNet
            The net being trained.
        X, y : array-like, default=None
            The training data (its training split sets the number of steps).
        **kwargs : dict
            Other skorch callback arguments (unused).
        """
        dataset = net.get_dataset(X, y)
        n = len(dataset)
        if net.train_split is not None:
            train, _ = net.train_split(dataset, y)
            n = len(train)
        batch_size = net.batch_size if net.batch_size not in (-1, None) else n
        per_epoch = math.ceil(n / max(1, batch_size))
        factor = self._factor(max(1, per_epoch * net.max_epochs))
        self.lr_scheduler_ = self.policy_(net.optimizer_, lr_lambda=factor)
        self.batch_idx_ = 0


# =============================================================================
# Encoder + branch from one path
# =============================================================================
def _stack_waveforms(waves):
    return np.stack([np.asarray(w, dtype=np.float32) for w in waves])


def make_pretrained_pair(
    model_name_or_path,
    kind="auto",
    *,
    max_length=64,
    duration=2.0,
    image_size=224,
    weights=None,
    **branch_params,
):
    """The encoder and the branch spec that match one pretrained model.

    Parameters
    ----------
    model_name_or_path : str or path-like
        See :class:`PretrainedBranch`.
    kind : {"auto", "text", "image", "audio", "torchvision"}, default="auto"
    max_length : int, default=64
        Text: token positions per text (without special tokens; capped to what
        the model accepts).
    duration : float, default=2.0
        Audio: seconds per clip (cropped or zero-padded).
    image_size : int, default=224
        Torchvision: pixel size (HF vision models use their processor's size).
    weights : str or path-like, default=None
        Torchvision: local state-dict file.
    **branch_params
        Other :class:`PretrainedBranch` parameters (``trainable``, ...).

    Returns
    -------
    encoder : transformer
        ``TokenSequenceEncoder(tokenizer=path)``, ``PixelEncoder(size=...)``
        or, for audio, ``AudioLoader(sr=<model rate>, duration=duration)``
        followed by stacking into a ``(n, samples)`` waveform matrix.
    branch : PretrainedBranch
        The branch spec that reads the encoder's output.

    Examples
    --------
    >>> import tempfile
    >>> from skmm.fusion import make_pretrained_pair
    >>> from skmm.utils._testing import make_tiny_text_model
    >>> path = make_tiny_text_model(tempfile.mkdtemp())
    >>> encoder, branch = make_pretrained_pair(path, "text", trainable="lora")
    >>> type(encoder).__name__, encoder.max_length, branch.trainable
    ('TokenSequenceEncoder', 64, 'lora')
    """
    spec = PretrainedBranch(
        model_name_or_path,
        kind=kind,
        weights=weights,
        **branch_params,
    )
    resolved = spec.resolve_kind()
    spec.set_params(kind=resolved)
    if resolved == "torchvision":
        from skmm.encoders import PixelEncoder

        return PixelEncoder(size=image_size, mode="RGB"), spec
    path, local = _resolve_path(model_name_or_path)
    pristine = _load_pristine(resolved, {"path": path, "local": local, "weights": None})
    model, helper = pristine["model"], pristine["helper"]
    if resolved == "text":
        from skmm.encoders import TokenSequenceEncoder

        limit = getattr(model.config, "max_position_embeddings", None)
        n_special = helper.num_special_tokens_to_add(pair=False)
        if limit:
            max_length = min(max_length, int(limit) - n_special)
        return TokenSequenceEncoder(max_length=max_length, tokenizer=path), spec
    if resolved == "image":
        from skmm.encoders import PixelEncoder

        size = _processor_size(helper, model.config)
        channels = getattr(model.config, "num_channels", 3)
        return PixelEncoder(size=size, mode="RGB" if channels == 3 else "L"), spec
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from skmm.encoders import AudioLoader

    rate = int(getattr(helper, "sampling_rate", 16000))
    encoder = make_pipeline(
        AudioLoader(sr=rate, duration=duration),
        FunctionTransformer(_stack_waveforms),
    )
    return encoder, spec
