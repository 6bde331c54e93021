"""Per-modality branches: the trainable network of one modality before fusion.

A branch turns the (standardized, NaN-free) block of one modality into either

* a vector per sample, a tensor of shape ``(n, output_size)``, or
* a sequence per sample, a tuple ``(tokens, valid)`` with ``tokens`` of shape
  ``(n, T, output_size)`` and ``valid`` a boolean ``(n, T)`` mask (False at
  padding positions). The network pools sequences to vectors (masked mean) for
  fusion types that need vectors; the attention fusion uses the tokens.

Built-in branches (``branches=`` names):

``"mlp"``
    Two ReLU layers of ``hidden_size`` units.
``"identity"``
    The block itself (``output_size`` = block width).
``"cnn"``
    A small 2-D conv net over a ``(C, H, W)`` grid (image pixels) or an
    ``(H, W)`` grid (e.g. a ``(frames, mels)`` spectrogram as a 1-channel image).
``"lstm"``, ``"gru"``, ``"transformer"``
    Sequence encoders over ``(T, F...)`` frames (``T`` steps of ``prod(F...)``
    features) or over a 1-D ``(L,)`` block of integer token ids (id 0 = padding,
    id 1 = unknown; larger ids than seen in training map to 1).

A user branch is an :class:`torch.nn.Module` class. Its constructor receives the
keyword arguments ``input_size`` (block width), ``input_shape`` (tuple or None)
and ``hidden_size``, plus ``dropout``, ``n_heads`` and ``vocab_size`` if its
signature accepts them. It sets ``output_size`` (default ``hidden_size``) and its
``forward(x)`` takes the ``(n, input_size)`` float block and returns a vector
tensor or a ``(tokens, valid)`` tuple as above.
"""

import inspect
import math

import torch
from torch import nn

__all__ = [
    "BRANCHES",
    "CNN_NORMS",
    "SEQUENCE_BRANCHES",
    "CNNBranch",
    "IdentityBranch",
    "MLPBranch",
    "RecurrentBranch",
    "TransformerBranch",
    "make_branch",
]

#: Built-in branch names.
BRANCHES = ("mlp", "identity", "cnn", "lstm", "gru", "transformer")
#: Branches that read a block as a sequence (frames or token ids).
SEQUENCE_BRANCHES = ("lstm", "gru", "transformer")

#: Token id of padding positions and of unknown tokens (TokenSequenceEncoder).
PAD_ID, UNKNOWN_ID = 0, 1


def _ensure_one_valid(valid):
    # A present sequence with no valid position (e.g. an empty text) still needs
    # one key for attention: use its first position.
    empty = ~valid.any(dim=1)
    if bool(empty.any()):
        valid = valid.clone()
        valid[empty, 0] = True
    return valid


class MLPBranch(nn.Module):
    """Two fully connected ReLU layers.

    Parameters
    ----------
    input_size : int
        Block width.
    hidden_size : int
        Width of both layers and of the output.
    dropout : float, default=0.0
        Dropout after the first layer.
    """

    def __init__(self, input_size, hidden_size, dropout=0.0):
        super().__init__()
        self.output_size = hidden_size
        self.layers = nn.Sequential(
            nn.Linear(input_size, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.layers(x)


class IdentityBranch(nn.Module):
    """Pass the block through unchanged (``output_size`` = block width)."""

    def __init__(self, input_size):
        super().__init__()
        self.output_size = input_size

    def forward(self, x):
        return x


#: Normalisation layers of the CNN branch (``cnn_norm``).
CNN_NORMS = ("none", "batch", "group")


def _conv_norm(kind, channels):
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "group":
        # per-sample statistics: no dependence on the batch (nor on the absent
        # rows, zero-filled, that share it)
        return [nn.GroupNorm(min(4, channels), channels)]
    return []


class CNNBranch(nn.Module):
    """Small 2-D convolutional network over a grid block.

    Two 3x3 conv (+ normalisation) + ReLU layers (``max(8, hidden_size // 2)``
    then ``hidden_size`` channels), each followed by 2x2 max pooling while the
    grid is at least 4 wide, an adaptive average pool to at most 4x4, and a
    ReLU linear layer to ``hidden_size``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)`` or ``(H, W)`` (one channel).
    hidden_size : int
    dropout : float, default=0.0
    norm : {"none", "batch", "group"}, default="none"
        Normalisation after each convolution: none, ``BatchNorm2d``, or
        ``GroupNorm`` with up to 4 groups (per-sample statistics).
    """

    def __init__(self, input_shape, hidden_size, dropout=0.0, norm="none"):
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 2:
            shape = (1, *shape)
        if len(shape) != 3:
            raise ValueError(
                f"CNNBranch needs a (C, H, W) or (H, W) shape; got {shape}."
            )
        self.grid_shape = shape
        self.output_size = hidden_size
        channels, height, width = shape
        layers = []
        for out_channels in (max(8, hidden_size // 2), hidden_size):
            layers += [
                nn.Conv2d(channels, out_channels, 3, padding=1),
                *_conv_norm(norm, out_channels),
                nn.ReLU(),
            ]
            if min(height, width) >= 4:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            channels = out_channels
        pooled = (min(height, 4), min(width, 4))
        layers += [
            nn.AdaptiveAvgPool2d(pooled),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels * pooled[0] * pooled[1], hidden_size),
            nn.ReLU(),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x.view(x.shape[0], *self.grid_shape))


class _SequenceInput(nn.Module):
    """Read a flat block as ``(n, T, d)`` steps: embedded token ids or frames."""

    def __init__(self, input_shape, hidden_size, vocab_size=None, project=False):
        super().__init__()
        shape = tuple(int(s) for s in input_shape)
        self.vocab_size = vocab_size
        self.n_steps = shape[0]
        if vocab_size is not None:
            if len(shape) != 1:
                raise ValueError(f"Token ids need a 1-D (L,) shape; got {shape}.")
            self.embedding = nn.Embedding(vocab_size, hidden_size, padding_idx=PAD_ID)
            self.step_size = hidden_size
        else:
            if len(shape) < 2:
                raise ValueError(
                    f"Frames need a (T, F, ...) shape with at least 2 axes; got "
                    f"{shape}."
                )
            self.embedding = None
            self.step_size = math.prod(shape[1:])
        self.projection = (
            nn.Linear(self.step_size, hidden_size)
            if project and self.embedding is None
            else None
        )
        if self.projection is not None:
            self.step_size = hidden_size

    def forward(self, x):
        n = x.shape[0]
        if self.embedding is not None:
            ids = x.long()
            ids = torch.where(ids >= self.vocab_size, UNKNOWN_ID, ids)
            valid = _ensure_one_valid(ids != PAD_ID)
            return self.embedding(ids), valid
        steps = x.view(n, self.n_steps, -1)
        if self.projection is not None:
            steps = self.projection(steps)
        valid = torch.ones(n, self.n_steps, dtype=torch.bool, device=x.device)
        return steps, valid


class RecurrentBranch(nn.Module):
    """LSTM or GRU over frames or token ids; emits the per-step outputs.

    Parameters
    ----------
    input_shape : tuple of int
        ``(T, F...)`` frames or ``(L,)`` token ids (then ``vocab_size`` is set).
    hidden_size : int
    cell : {"lstm", "gru"}, default="lstm"
    vocab_size : int or None, default=None
        Embedding size for token ids (ids >= vocab_size map to the unknown id 1).
    dropout : float, default=0.0
        Dropout on the outputs.
    """

    def __init__(
        self, input_shape, hidden_size, cell="lstm", vocab_size=None, dropout=0.0
    ):
        super().__init__()
        self.inputs = _SequenceInput(input_shape, hidden_size, vocab_size)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(self.inputs.step_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size

    def forward(self, x):
        steps, valid = self.inputs(x)
        out, _ = self.rnn(steps)
        return self.dropout(out), valid


class TransformerBranch(nn.Module):
    """One pre-norm transformer encoder layer over frames or token ids.

    Steps are embedded (token ids) or linearly projected (frames) to
    ``hidden_size`` and get a learned position embedding; padding positions are
    masked out of the self-attention.

    Parameters
    ----------
    input_shape : tuple of int
        ``(T, F...)`` frames or ``(L,)`` token ids (then ``vocab_size`` is set).
    hidden_size : int
        Model width; must be divisible by ``n_heads``.
    n_heads : int, default=4
    vocab_size : int or None, default=None
    dropout : float, default=0.0
    """

    def __init__(
        self, input_shape, hidden_size, n_heads=4, vocab_size=None, dropout=0.0
    ):
        super().__init__()
        self.inputs = _SequenceInput(input_shape, hidden_size, vocab_size, project=True)
        self.position = nn.Parameter(
            torch.randn(1, self.inputs.n_steps, hidden_size) * 0.02
        )
        layer = nn.TransformerEncoderLayer(
            hidden_size,
            n_heads,
            dim_feedforward=2 * hidden_size,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers=1, enable_nested_tensor=False
        )
        self.output_size = hidden_size

    def forward(self, x):
        steps, valid = self.inputs(x)
        out = self.encoder(steps + self.position, src_key_padding_mask=~valid)
        return out, valid


def _accepted_kwargs(cls, candidates):
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(candidates)
    return {k: v for k, v in candidates.items() if k in params}


def make_branch(spec, hidden_size, *, n_heads=4, dropout=0.0, cnn_norm="none"):
    """Build the branch module of one block.

    Parameters
    ----------
    spec : BlockSpec
        The block (see :class:`skmm.fusion._network.BlockSpec`): its branch
        name or class, width, shape and vocabulary size.
    hidden_size, n_heads, dropout
        Network-wide sizes.
    cnn_norm : {"none", "batch", "group"}, default="none"
        Normalisation layers of the built-in CNN branch.

    Returns
    -------
    branch : torch.nn.Module
        With an ``output_size`` attribute.
    """
    branch = spec.branch
    if isinstance(branch, type):
        kwargs = {
            "input_size": spec.size,
            "input_shape": spec.shape,
            "hidden_size": hidden_size,
        }
        kwargs.update(
            _accepted_kwargs(
                branch,
                {"dropout": dropout, "n_heads": n_heads, "vocab_size": spec.vocab_size},
            )
        )
        module = branch(**kwargs)
        if not hasattr(module, "output_size"):
            module.output_size = hidden_size
        return module
    if branch == "mlp":
        return MLPBranch(spec.size, hidden_size, dropout)
    if branch == "identity":
        return IdentityBranch(spec.size)
    if branch == "cnn":
        return CNNBranch(spec.shape, hidden_size, dropout, norm=cnn_norm)
    if branch in ("lstm", "gru"):
        return RecurrentBranch(
            spec.shape,
            hidden_size,
            cell=branch,
            vocab_size=spec.vocab_size,
            dropout=dropout,
        )
    if branch == "transformer":
        return TransformerBranch(
            spec.shape,
            hidden_size,
            n_heads=n_heads,
            vocab_size=spec.vocab_size,
            dropout=dropout,
        )
    raise ValueError(f"Unknown branch {branch!r}; expected one of {BRANCHES}.")
