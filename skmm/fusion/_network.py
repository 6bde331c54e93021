"""The fusion network, assembled from parameters: the one place that builds it.

:func:`make_block_specs` turns an encoded matrix and its modality layout into
one :class:`BlockSpec` per modality (branch, grid shape, token vocabulary,
standardization statistics); :class:`FusionNetwork` builds the branches, the
fusion module and the output layer from those specs. The estimators in
:mod:`skmm.fusion` (and any other skmm estimator that needs a fusion network)
build their network only through these two.
"""

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from skmm.exceptions import InvalidSampleError, LayoutError
from skmm.fusion._branches import (
    BRANCHES,
    SEQUENCE_BRANCHES,
    MLPBranch,
    make_branch,
)
from skmm.fusion._fusers import make_fusion
from skmm.fusion._pretrained import PretrainedBranch, network_param_groups
from skmm.fusion._training import MIN_INFERENCE_BATCH
from skmm.utils import infer_block_shape
from skmm.utils._layout import UNKNOWN_ID, block_index
from skmm.utils._torch import masked_mean

__all__ = [
    "BlockSpec",
    "FusionNetwork",
    "check_token_blocks",
    "inference_batch_size",
    "make_block_specs",
    "network_inputs",
]


@dataclass(eq=False)
class BlockSpec:
    """What the network needs to know about one modality block.

    Attributes
    ----------
    name : str
        Modality name.
    columns : ndarray of int
        Positions of the block's columns in the encoded matrix.
    branch : str, type or PretrainedBranch
        Branch name (see :mod:`skmm.fusion._branches`), nn.Module class or
        pretrained-backbone spec.
    shape : tuple of int or None
        Grid shape of the block (product = block width), if known.
    kind : {"float", "tokens", "raw"}
        ``"tokens"``: integer token ids read by a sequence branch or a text
        backbone. ``"raw"``: values passed unstandardized (pixels or waveforms
        read by a pretrained backbone, which normalises them its own way).
    vocab_size : int or None
        Token embedding size (max id seen in training + 1) for token blocks.
    mean, scale : ndarray of shape (width,) or None
        Standardization applied inside the network to float blocks.
    """

    name: str
    columns: np.ndarray
    branch: object
    shape: tuple = None
    kind: str = "float"
    vocab_size: int = None
    mean: np.ndarray = None
    scale: np.ndarray = None

    @property
    def size(self):
        return len(self.columns)


def _check_shape(name, shape, width):
    if (
        not isinstance(shape, (tuple, list))
        or not shape
        or not all(isinstance(s, numbers.Integral) and s > 0 for s in shape)
    ):
        raise LayoutError(
            f"block_shapes[{name!r}] must be a tuple of positive ints; got {shape!r}."
        )
    shape = tuple(int(s) for s in shape)
    if math.prod(shape) != width:
        raise LayoutError(
            f"block_shapes[{name!r}] = {shape} has {math.prod(shape)} values, but "
            f"modality {name!r} has {width} columns."
        )
    return shape


def _resolve_branches(branches, names):
    if isinstance(branches, (str, type, PretrainedBranch)):
        per_modality = dict.fromkeys(names, branches)
    elif hasattr(branches, "items"):
        unknown = sorted(set(branches) - set(names))
        if unknown:
            raise LayoutError(
                f"branches names unknown modalities {unknown}; the modalities are "
                f"{list(names)}."
            )
        per_modality = {name: branches.get(name, "mlp") for name in names}
    else:
        raise ValueError(
            "branches must be a branch name, an nn.Module class, a "
            "PretrainedBranch or a dict "
            f"{{modality: branch}}; got {branches!r}."
        )
    for name, branch in per_modality.items():
        if isinstance(branch, PretrainedBranch):
            branch.validate()
        elif isinstance(branch, type):
            if not issubclass(branch, nn.Module):
                raise ValueError(
                    f"Branch class for modality {name!r} must subclass "
                    f"torch.nn.Module; got {branch!r}."
                )
        elif branch not in BRANCHES:
            raise ValueError(
                f"Unknown branch {branch!r} for modality {name!r}; expected one of "
                f"{list(BRANCHES)}, an nn.Module class or a PretrainedBranch."
            )
    return per_modality


def _grid_hint(name, branch):
    return (
        f"Declare it with block_shapes={{{name!r}: shape}} or name the block's "
        "features '{stem}:{i}:{j}...' (see skmm.utils.grid_feature_names); "
        f"branch {branch!r} needs "
        + (
            "a (C, H, W) or (H, W) grid."
            if branch == "cnn"
            else "(T, F...) frames or (L,) token ids."
        )
    )


def _block_stats(values, weight, shape, branch):
    """Weighted per-feature mean and scale, broadcast to the block's columns."""
    n, width = values.shape
    if n == 0 or weight.sum() <= 0:
        return np.zeros(width, np.float32), np.ones(width, np.float32)
    values = values.astype(np.float64)
    if branch == "cnn":
        grid = (1, *shape) if len(shape) == 2 else shape
        # one statistic per channel
        grouped = values.reshape(n, grid[0], -1).transpose(0, 2, 1)
    elif branch in SEQUENCE_BRANCHES:
        # one statistic per frame feature, shared over time
        grouped = values.reshape(n, shape[0], -1)
    else:
        grouped = values.reshape(n, 1, width)
    w = np.broadcast_to(weight[:, None, None], grouped.shape)
    total = w.sum(axis=(0, 1))
    mean = (w * grouped).sum(axis=(0, 1)) / total
    var = (w * (grouped - mean) ** 2).sum(axis=(0, 1)) / total
    scale = np.sqrt(var)
    scale[scale < 1e-8 + 1e-6 * np.abs(mean)] = 1.0
    if branch == "cnn":
        mean, scale = (
            np.repeat(mean, width // len(mean)),
            np.repeat(scale, width // len(scale)),
        )
    else:
        mean, scale = np.resize(mean, width), np.resize(scale, width)
    return mean.astype(np.float32), scale.astype(np.float32)


def _check_token_block(X, rows, spec):
    values = X[rows][:, spec.columns]
    bad = (values < 0).any(axis=1) | (np.mod(values, 1) != 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(rows)[np.flatnonzero(bad)[0]])
        raise InvalidSampleError(
            f"modality {spec.name!r} is read as token ids by its "
            f"{spec.branch!r} branch, but holds a non-integer or negative value; "
            "token blocks must hold ids >= 0 (0 = padding)",
            index=i,
            column=spec.name,
        )
    return values


def check_token_blocks(X, present, specs):
    """Check that token blocks hold non-negative integer ids (where present).

    Raises
    ------
    InvalidSampleError
        Naming the first bad sample and the modality.
    """
    for k, spec in enumerate(specs):
        if spec.kind == "tokens":
            _check_token_block(X, present[:, k], spec)


def make_block_specs(
    X,
    present,
    layout,
    *,
    feature_names=None,
    branches="mlp",
    block_shapes=None,
    sample_weight=None,
):
    """Describe every modality block of a training matrix.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float
        Encoded matrix; absent blocks are NaN.
    present : ndarray of shape (n_samples, n_modalities), bool
        From :func:`skmm.utils.modality_presence`.
    layout : dict of str to ndarray of int
        From :func:`skmm.utils.resolve_modalities`.
    feature_names : array-like of str, default=None
        Column names, used to infer grid shapes (``"stem:i:j..."``).
    branches : str, nn.Module class or dict, default="mlp"
        One branch for every modality, or ``{modality: branch}`` (unlisted
        modalities use ``"mlp"``).
    block_shapes : dict of str to tuple, default=None
        Declared grid shapes; they take precedence over the feature names.
    sample_weight : ndarray of shape (n_samples,), default=None
        Weights of the standardization statistics.

    Returns
    -------
    specs : list of BlockSpec
        In layout order.

    Raises
    ------
    LayoutError
        Unknown modality in ``branches``/``block_shapes``, a shape that does not
        match the block width, or a cnn/sequence branch without a usable shape.
    """
    names = list(layout)
    per_modality = _resolve_branches(branches, names)
    block_shapes = {} if block_shapes is None else block_shapes
    if not hasattr(block_shapes, "items"):
        raise LayoutError(
            f"block_shapes must be a dict {{modality: shape}}; got {block_shapes!r}."
        )
    unknown = sorted(set(block_shapes) - set(names))
    if unknown:
        raise LayoutError(
            f"block_shapes names unknown modalities {unknown}; the modalities are "
            f"{names}."
        )
    if sample_weight is None:
        sample_weight = np.ones(X.shape[0])
    specs = []
    for k, (name, cols) in enumerate(layout.items()):
        branch = per_modality[name]
        width = len(cols)
        if name in block_shapes:
            shape = _check_shape(name, block_shapes[name], width)
        elif feature_names is not None:
            shape = infer_block_shape([feature_names[c] for c in cols])
        else:
            shape = None
        kind, vocab_size = "float", None
        if isinstance(branch, PretrainedBranch):
            # the backbone normalises its own input: no standardization
            spec = BlockSpec(name, np.asarray(cols), branch, shape, branch.block_kind)
            if spec.kind == "tokens":
                _check_token_block(X, present[:, k], spec)
            specs.append(spec)
            continue
        if branch == "cnn" and (shape is None or len(shape) not in (2, 3)):
            found = "no grid shape" if shape is None else f"shape {shape}"
            raise LayoutError(
                f"Modality {name!r} has {found}. {_grid_hint(name, branch)}"
            )
        if branch in SEQUENCE_BRANCHES:
            if shape is None:
                raise LayoutError(
                    f"Modality {name!r} has no sequence shape. "
                    f"{_grid_hint(name, branch)}"
                )
            if len(shape) == 1:
                kind = "tokens"
        rows = present[:, k]
        values = X[rows][:, cols]
        if kind == "tokens":
            spec = BlockSpec(name, np.asarray(cols), branch, shape, kind)
            values = _check_token_block(X, rows, spec)
            max_id = int(values.max()) if values.size else UNKNOWN_ID
            vocab_size = max(max_id, UNKNOWN_ID) + 1
            specs.append(
                BlockSpec(name, np.asarray(cols), branch, shape, kind, vocab_size)
            )
            continue
        mean, scale = _block_stats(values, sample_weight[rows], shape, branch)
        specs.append(
            BlockSpec(name, np.asarray(cols), branch, shape, kind, None, mean, scale)
        )
    return specs


#: Activation values per row of an inference batch that
#: :func:`inference_batch_size` aims at: 2**20 float32 values (4 MiB) per layer.
INFERENCE_VALUES = 2**20


def inference_batch_size(specs, hidden_size, batch_size):
    """Rows per prediction batch of a :class:`FusionNetwork`.

    In evaluation mode a batch's rows do not interact, so the batch size only
    trades the per-batch (Python) overhead against memory. Per row, a block
    read by the built-in ``"mlp"`` or ``"identity"`` branch holds about its
    width plus ``hidden_size`` values per layer; any other branch (cnn,
    sequence, pretrained backbone, user module) is counted as ``width *
    hidden_size`` (a channel or embedding per grid cell or token), so heavy
    networks keep batches near the training size, where their own compute
    dominates anyway.

    Parameters
    ----------
    specs : list of BlockSpec
        From :func:`make_block_specs`.
    hidden_size : int
        Width of branches and fusion.
    batch_size : int
        Training batch size (the lower bound).

    Returns
    -------
    rows : int
        ``max(batch_size, MIN_INFERENCE_BATCH, INFERENCE_VALUES // per_row)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.fusion._network import BlockSpec, inference_batch_size
    >>> mlp = BlockSpec("text", np.arange(64), "mlp")
    >>> inference_batch_size([mlp], hidden_size=64, batch_size=128)
    5461
    >>> cnn = BlockSpec("image", np.arange(784), "cnn", (28, 28))
    >>> inference_batch_size([cnn], hidden_size=64, batch_size=128)
    256
    """
    per_row = hidden_size
    for spec in specs:
        if spec.kind == "float" and isinstance(spec.branch, str):
            light = spec.branch in ("mlp", "identity")
        else:
            light = False
        per_row += spec.size + hidden_size if light else spec.size * hidden_size
    return int(max(batch_size, MIN_INFERENCE_BATCH, INFERENCE_VALUES // per_row))


def block_key(k):
    """Name of the ``forward`` argument that carries block ``k``."""
    return f"block{k}"


def _writable(X):
    """``X``, or a writable view of it, or (if its memory is read-only) a copy.

    torch has no read-only tensors (``torch.from_numpy`` warns), and pandas
    hands out read-only views of writable data. skmm's networks never write to
    their input tensors, so a writable view is safe where the memory allows it.
    """
    if X.flags.writeable:
        return X
    view = X.view()
    try:
        view.flags.writeable = True
    except ValueError:  # read-only memory (a bytes buffer, a read-only memmap)
        return X.copy(order="K")
    return view


def network_inputs(X, present, specs, sample_weight=None, *, row_major=True):
    """The keyword arguments of :meth:`FusionNetwork.forward`, as CPU tensors.

    A float32 ``X`` is not copied where it need not be: a block of consecutive
    columns is a view of ``X`` (the networks' first operation on a block makes a
    new tensor; they never write to their inputs).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Encoded matrix (converted to float32 if it is not).
    present : ndarray of shape (n_samples, n_modalities), dtype=bool
        From :func:`skmm.utils.modality_presence`.
    specs : list of BlockSpec
        From :func:`make_block_specs`.
    sample_weight : ndarray of shape (n_samples,), default=None
        Carried along as ``"sample_weight"`` when given.
    row_major : bool, default=True
        Every block's rows are contiguous (C-ordered, possibly with a row
        stride), as branches that reshape a row into a grid need. ``False``
        also accepts column-major views (e.g. of a validated DataFrame) and so
        saves a transposing copy; only :class:`FusionNetwork` takes such
        blocks (it makes them contiguous batch by batch where a branch needs
        it).

    Returns
    -------
    inputs : dict of str to Tensor
        ``"block{k}"``: float32 block ``k`` (NaN where absent), ``"present"``:
        bool ``(n, M)``, and ``"sample_weight"`` if given.
    """
    X = _writable(np.asarray(X, dtype=np.float32))
    inputs = {}
    for k, spec in enumerate(specs):
        block = X[:, block_index(spec.columns)]
        if row_major and block.shape[1] > 1 and block.strides[1] != block.itemsize:
            block = np.ascontiguousarray(block)
        inputs[block_key(k)] = torch.from_numpy(block)
    inputs["present"] = torch.from_numpy(np.ascontiguousarray(present, dtype=bool))
    if sample_weight is not None:
        inputs["sample_weight"] = torch.from_numpy(
            np.ascontiguousarray(sample_weight, dtype=np.float32)
        )
    return inputs


def _grid_view(spec):
    """``(C, A, B)`` view of a float grid block (spectrogram, image), or None."""
    if spec.kind != "float" or spec.shape is None:
        return None
    if len(spec.shape) == 2:
        return (1, *spec.shape)
    if len(spec.shape) == 3 and spec.branch == "cnn":
        return tuple(spec.shape)
    return None


def _band(n, size, max_fraction, device):
    """Per-row boolean masks of one random band of up to ``max_fraction``."""
    width = (torch.rand(n, 1, device=device) * max_fraction * size).floor()
    start = (torch.rand(n, 1, device=device) * (size - width + 1)).floor()
    index = torch.arange(size, device=device)[None, :]
    return (index >= start) & (index < start + width)


def _mask_grid(x, grid, max_fraction):
    """SpecAugment: zero one band along each of the two grid axes, per sample."""
    n = x.shape[0]
    channels, rows, cols = grid
    row_mask = _band(n, rows, max_fraction, x.device)[:, None, :, None]
    col_mask = _band(n, cols, max_fraction, x.device)[:, None, None, :]
    view = x.reshape(n, channels, rows, cols)
    return view.masked_fill(row_mask | col_mask, 0.0).reshape(n, -1)


class FusionNetwork(nn.Module):
    """Branches per modality, a fusion module and an output layer.

    Parameters
    ----------
    blocks : list of BlockSpec
        From :func:`make_block_specs`.
    fusion : str or nn.Module class, default="early"
        See :mod:`skmm.fusion._fusers`.
    hidden_size : int, default=64
    n_outputs : int, default=1
        Classes (logits) or regression targets.
    n_heads : int, default=4
        Attention heads (attention fusion, transformer branches).
    rank : int, default=4
        Rank of the low-rank tensor fusion; factors per unit of the bilinear
        fusion.
    dropout : float, default=0.0
    modality_dropout : float, default=0.0
        In training, each present modality of each sample is dropped (treated as
        absent) with this probability; at least one present modality is kept.
    output_mask : array-like of bool of shape (n_outputs,), default=None
        Outputs set to ``-inf`` (classes never seen in training: probability 0).
    feature_noise : float, default=0.0
        In training, Gaussian noise of this standard deviation (in units of the
        standardized features) is added to every present float block.
    spec_augment : float, default=0.0
        In training, SpecAugment-style masking of grid blocks (a ``(T, F)``
        spectrogram or an ``(H, W)`` / ``(C, H, W)`` image): per sample, one
        band of up to ``spec_augment`` of the first grid axis (time, rows) and
        one of up to ``spec_augment`` of the second (frequency, columns) are
        set to the standardized mean, 0.
    per_sample_norm : bool, default=False
        Standardize every grid block per sample (zero mean, unit variance over
        the sample's grid, after the dataset standardization), at training and
        prediction time: gain and level shifts of a recording or a photo (and
        the floor that additive noise raises) no longer move the features.
    cnn_norm : {"none", "batch", "group"}, default="none"
        Normalisation layers in the built-in CNN branches.
    alignment : {"contrastive", "cycle", "adversarial"} or None, default=None
        Alignment objective (:mod:`skmm.alignment._losses`) on the branch
        embeddings, added in training as ``aux_loss`` (times
        ``alignment_weight``), with the same missing-modality mask.
    alignment_weight : float, default=0.1

    Notes
    -----
    ``forward(present, sample_weight=None, return_info=False, **blocks)``: block
    ``k`` arrives as ``block{k}`` of shape ``(n, width_k)`` with NaN rows where
    the modality is absent. Inside, the block is standardized and its absent
    rows are replaced by 0 only where ``present`` masks them out, so no NaN
    reaches the branches or the gradients; the fusion then handles the absence
    its own way. ``sample_weight`` is accepted and ignored (it rides along in
    the batch for the loss). With ``return_info=True`` it returns
    ``(output, info)`` where ``info`` holds the fusion's per-sample tensors and
    ``"present"`` (after modality dropout).
    """

    def __init__(
        self,
        blocks,
        fusion="early",
        hidden_size=64,
        n_outputs=1,
        n_heads=4,
        rank=4,
        dropout=0.0,
        modality_dropout=0.0,
        output_mask=None,
        feature_noise=0.0,
        spec_augment=0.0,
        per_sample_norm=False,
        cnn_norm="none",
        alignment=None,
        alignment_weight=0.1,
    ):
        super().__init__()
        self.names = [spec.name for spec in blocks]
        self.kinds = [spec.kind for spec in blocks]
        self.grids = [_grid_view(spec) for spec in blocks]
        self.modality_dropout = float(modality_dropout)
        self.feature_noise = float(feature_noise)
        self.spec_augment = float(spec_augment)
        self.per_sample_norm = bool(per_sample_norm)
        self.branches = nn.ModuleList(
            [
                make_branch(
                    spec,
                    hidden_size,
                    n_heads=n_heads,
                    dropout=dropout,
                    cnn_norm=cnn_norm,
                )
                for spec in blocks
            ]
        )
        for k, spec in enumerate(blocks):
            if spec.kind == "float":
                self.register_buffer(f"mean{k}", torch.as_tensor(spec.mean))
                self.register_buffer(f"scale{k}", torch.as_tensor(spec.scale))
        sizes = {
            spec.name: int(branch.output_size)
            for spec, branch in zip(blocks, self.branches)
        }
        self.fusion = make_fusion(
            fusion,
            sizes,
            hidden_size,
            n_outputs,
            n_heads=n_heads,
            rank=rank,
            dropout=dropout,
        )
        self.uses_sequences = bool(getattr(self.fusion, "uses_sequences", False))
        if getattr(self.fusion, "produces_output", False):
            self.head = nn.Identity()
        else:
            self.head = nn.Linear(int(self.fusion.output_size), n_outputs)
        if output_mask is None:
            self.output_mask = None
        else:
            self.register_buffer(
                "output_mask", torch.as_tensor(np.asarray(output_mask, dtype=bool))
            )
        self.alignment = None
        self.alignment_weight = float(alignment_weight)
        self.aux_loss = None
        if alignment is not None:
            # imported here: skmm.alignment builds its networks on skmm.fusion
            from skmm.alignment._losses import make_objective

            self.alignment = make_objective(
                alignment,
                list(sizes.values()),
                hidden_size,
                widths=[s.size if s.kind == "float" else None for s in blocks],
                hidden=hidden_size,
            )

    def _align_encode(self, k, x):
        out = self.branches[k](x)
        if isinstance(out, tuple):
            out = masked_mean(*out)
        return self.alignment.project(k, out)

    def param_groups(self, named_parameters, lr):
        """Optimizer parameter groups (skorch hook, see ``SkmmNet``).

        Pretrained backbones get their own groups (``backbone_lr``, layer-wise
        decay); frozen parameters are left out.
        """
        return network_param_groups(self, lr, named_parameters)

    def _drop_modalities(self, present):
        drop = torch.rand(present.shape, device=present.device) < self.modality_dropout
        kept = present & ~drop
        empty = ~kept.any(dim=1)
        if bool(empty.any()):
            # keep one random present modality of the samples that lost them all
            score = torch.rand(present.shape, device=present.device)
            choice = score.masked_fill(~present, -1.0).argmax(dim=1)
            rows = torch.nonzero(empty).flatten()
            kept[rows, choice[rows]] = True
        return kept

    def _robust_inputs(self, x, grid):
        """Per-sample grid normalisation, then (training only) masks and noise."""
        if grid is not None and self.per_sample_norm:
            mean = x.mean(dim=1, keepdim=True)
            std = x.std(dim=1, keepdim=True, unbiased=False)
            x = (x - mean) / (std + 1e-5)
        if not self.training:
            return x
        if grid is not None and self.spec_augment > 0:
            x = _mask_grid(x, grid, self.spec_augment)
        if self.feature_noise > 0:
            x = x + self.feature_noise * torch.randn_like(x)
        return x

    def forward(self, present, sample_weight=None, return_info=False, **blocks):
        self.aux_loss = None
        present = present.bool()
        if self.training and self.modality_dropout > 0:
            present = self._drop_modalities(present)
        embeddings, sequences, inputs = {}, {}, []
        for k, (name, branch) in enumerate(zip(self.names, self.branches)):
            x = blocks[block_key(k)]
            if self.kinds[k] == "float":
                x = (x - getattr(self, f"mean{k}")) / getattr(self, f"scale{k}")
                x = self._robust_inputs(x, self.grids[k])
            x = torch.where(present[:, k : k + 1], x, 0.0)
            if type(branch) is not MLPBranch and not x.is_contiguous():
                # a column-major block (network_inputs(row_major=False)); only
                # the MLP branch reads it as is, others may reshape rows
                x = x.contiguous()
            inputs.append(x)
            out = branch(x)
            if isinstance(out, tuple):
                tokens, valid = out
                sequences[name] = (tokens, valid)
                out = masked_mean(tokens, valid)
            embeddings[name] = out
        if self.alignment is not None and self.training:
            self.aux_loss = self.alignment_weight * self.alignment(
                list(embeddings.values()),
                present,
                targets=inputs,
                encode=self._align_encode,
            )
        if self.uses_sequences:
            result = self.fusion(embeddings, present, sequences=sequences)
        else:
            result = self.fusion(embeddings, present)
        fused, info = result if isinstance(result, tuple) else (result, {})
        output = self.head(fused)
        if self.output_mask is not None:
            output = output.masked_fill(~self.output_mask, float("-inf"))
        if return_info:
            return output, {**info, "present": present}
        return output
