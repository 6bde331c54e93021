"""Fusion modules: combine the branch embeddings of all modalities.

The fusion interface (also for a user-supplied :class:`torch.nn.Module` class
passed as ``fusion=``):

Constructor
    Receives ``input_sizes`` (dict modality name -> width of its branch
    embedding, in layout order) and ``hidden_size``, plus ``n_outputs`` (the
    number of network outputs: classes or regression targets), ``n_heads``,
    ``rank`` and ``dropout`` if its signature accepts them.
Attributes
    ``output_size`` (int, default ``hidden_size``): width of the fused vector,
    on top of which the network puts a linear output layer.
    ``produces_output`` (bool, default False): the fused tensor already is the
    network output, shape ``(n, n_outputs)`` (late fusion).
    ``uses_sequences`` (bool, default False): ``forward`` also receives
    ``sequences=``, a dict name -> ``(tokens (n, T, d), valid (n, T))`` for the
    modalities whose branch emits sequences.
``forward(embeddings, present)``
    ``embeddings``: dict name -> float tensor ``(n, d_m)`` (rows of absent
    modalities hold meaningless but finite values); ``present``: bool tensor
    ``(n, M)``, column ``m`` True where modality ``m`` is observed (and not
    dropped by ``modality_dropout``). Every row has at least one present
    modality. Returns ``fused`` or ``(fused, info)`` where ``info`` is a dict of
    per-sample tensors (first axis ``n``) reported by ``explain_fusion``.

How each built-in fusion handles missing modalities (never by zero-filling):

* ``early``, ``tensor``, ``low_rank_tensor``, ``bilinear``: an absent modality's
  embedding is replaced by a learned "absent" embedding of that modality.
* ``late``: the combination weights are renormalised over the present heads.
* ``gated``: the gate of an absent modality is closed (0); the gate network
  sees the learned absent embedding in its place.
* ``attention``: absent modalities (and padding positions) are masked out of the
  keys (key padding mask); an absent modality's own output slot holds a learned
  absent embedding.
"""

import inspect
import itertools

import torch
from torch import nn

__all__ = [
    "FUSIONS",
    "AttentionFusion",
    "BilinearFusion",
    "EarlyFusion",
    "GatedFusion",
    "LateFusion",
    "LowRankTensorFusion",
    "TensorFusion",
    "make_fusion",
]

#: Largest outer-product size of the (full) tensor fusion.
MAX_TENSOR_SIZE = 4096
#: Initial std (times 1/sqrt(width)) of the low-rank factors' non-constant rows.
LRT_INIT_SCALE = 2.0
#: Softmax temperature of the gated fusion's gates.
GATE_TEMPERATURE = 0.25


class AbsentEmbedding(nn.Module):
    """One learned vector per modality that stands in for an absent modality."""

    def __init__(self, sizes):
        super().__init__()
        self.values = nn.ParameterList(
            [nn.Parameter(torch.randn(d) * 0.02) for d in sizes]
        )

    def forward(self, vectors, present):
        return [
            torch.where(present[:, k : k + 1], z, value.to(z.dtype))
            for k, (z, value) in enumerate(zip(vectors, self.values))
        ]


class EarlyFusion(nn.Module):
    """Concatenate the modality embeddings, then a ReLU layer.

    Absent modalities: learned absent embedding.
    """

    def __init__(self, input_sizes, hidden_size, dropout=0.0):
        super().__init__()
        sizes = list(input_sizes.values())
        self.absent = AbsentEmbedding(sizes)
        self.layers = nn.Sequential(
            nn.Linear(sum(sizes), hidden_size), nn.ReLU(), nn.Dropout(dropout)
        )
        self.output_size = hidden_size

    def forward(self, embeddings, present):
        z = self.absent(list(embeddings.values()), present)
        return self.layers(torch.cat(z, dim=1)), {}


class LateFusion(nn.Module):
    """A linear head per modality; a learned weighted average of their outputs.

    The weights are ``softmax(w)`` over the present modalities (``w`` is one
    learned logit per modality), so absent modalities get weight 0 and the
    present heads are combined. ``info["weights"]`` has the per-sample weights.
    """

    produces_output = True

    def __init__(self, input_sizes, hidden_size, n_outputs, dropout=0.0):
        super().__init__()
        self.heads = nn.ModuleList(
            [
                nn.Sequential(nn.Dropout(dropout), nn.Linear(d, n_outputs))
                for d in input_sizes.values()
            ]
        )
        self.weight_logits = nn.Parameter(torch.zeros(len(input_sizes)))
        self.output_size = n_outputs

    def forward(self, embeddings, present):
        outputs = torch.stack(
            [head(z) for head, z in zip(self.heads, embeddings.values())], dim=1
        )
        logits = self.weight_logits.expand(present.shape[0], -1)
        weights = torch.softmax(logits.masked_fill(~present, float("-inf")), dim=1)
        return (weights.unsqueeze(-1) * outputs).sum(1), {"weights": weights}


def _tensor_width(hidden_size, n_modalities):
    width = hidden_size
    while width > 1 and (width + 1) ** n_modalities > MAX_TENSOR_SIZE:
        width -= 1
    return width


def _with_one(z):
    return torch.cat([torch.ones_like(z[:, :1]), z], dim=1)


class TensorFusion(nn.Module):
    """Outer-product tensor fusion (Zadeh et al., 2017).

    Each embedding is projected to ``p`` dims, extended with a constant 1 and
    the outer product of all ``[1, z_m]`` (unimodal, bimodal, ... terms) feeds a
    ReLU layer. ``p`` is the largest width <= ``hidden_size`` with
    ``(p + 1) ** M <= 4096``; for many modalities use ``low_rank_tensor``.
    Absent modalities: learned absent embedding (after the projection).
    """

    def __init__(self, input_sizes, hidden_size, dropout=0.0):
        super().__init__()
        width = _tensor_width(hidden_size, len(input_sizes))
        self.projections = nn.ModuleList(
            [nn.Linear(d, width) for d in input_sizes.values()]
        )
        self.absent = AbsentEmbedding([width] * len(input_sizes))
        self.layers = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear((width + 1) ** len(input_sizes), hidden_size),
            nn.ReLU(),
        )
        self.output_size = hidden_size

    def forward(self, embeddings, present):
        z = [p(e) for p, e in zip(self.projections, embeddings.values())]
        z = self.absent(z, present)
        product = _with_one(z[0])
        for factor in z[1:]:
            product = (product.unsqueeze(2) * _with_one(factor).unsqueeze(1)).flatten(1)
        return self.layers(product), {}


class LowRankTensorFusion(nn.Module):
    """Low-rank multimodal fusion (Liu et al., 2018).

    The tensor-fusion weight is factorised into ``rank`` modality-specific
    factors: ``fused = relu(sum_r w_r prod_m ([1, z_m] W_m^r) + b)``, linear in
    the number of modalities. The factors' constant row starts at 1 and the
    others at ``N(0, (2 / sqrt(d_m))^2)``, so the product starts near
    ``1 + sum_m z_m W_m`` (additive fusion) plus higher-order terms. Absent
    modalities: learned absent embedding.
    """

    def __init__(self, input_sizes, hidden_size, rank=4, dropout=0.0):
        super().__init__()
        self.factors = nn.ParameterList()
        for d in input_sizes.values():
            factor = torch.randn(rank, d + 1, hidden_size) * (LRT_INIT_SCALE / d**0.5)
            factor[:, 0, :] = 1.0
            self.factors.append(nn.Parameter(factor))
        self.absent = AbsentEmbedding(list(input_sizes.values()))
        self.rank_weights = nn.Parameter(torch.full((rank,), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.dropout = nn.Dropout(dropout)
        self.output_size = hidden_size

    def forward(self, embeddings, present):
        z = self.absent(list(embeddings.values()), present)
        fused = None
        for factor, zm in zip(self.factors, z):
            term = torch.matmul(_with_one(zm), factor)  # (rank, n, hidden)
            fused = term if fused is None else fused * term
        fused = torch.einsum("r,rnh->nh", self.rank_weights, fused) + self.bias
        return self.dropout(torch.relu(fused)), {}


class BilinearFusion(nn.Module):
    """Factorised bilinear pooling (MFB, Yu et al., 2017), pairwise.

    For each pair of modalities ``(a, b)`` (every pair ``a < b``; a single
    modality is paired with itself): ``sum_pool_k((U z_a + c) * (V z_b + d))``
    with ``k = rank`` factors per output unit, layer-normalised. The pair
    vectors are concatenated and fed to a ReLU layer. Absent modalities:
    learned absent embedding.
    """

    def __init__(self, input_sizes, hidden_size, rank=4, dropout=0.0):
        super().__init__()
        sizes = list(input_sizes.values())
        n = len(sizes)
        self.pairs = list(itertools.combinations(range(n), 2)) if n > 1 else [(0, 0)]
        self.rank = rank
        self.hidden_size = hidden_size
        self.left = nn.ModuleList(
            [nn.Linear(sizes[a], hidden_size * rank) for a, _ in self.pairs]
        )
        self.right = nn.ModuleList(
            [nn.Linear(sizes[b], hidden_size * rank) for _, b in self.pairs]
        )
        self.norms = nn.ModuleList([nn.LayerNorm(hidden_size) for _ in self.pairs])
        self.absent = AbsentEmbedding(sizes)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            nn.Linear(hidden_size * len(self.pairs), hidden_size), nn.ReLU()
        )
        self.output_size = hidden_size

    def forward(self, embeddings, present):
        z = self.absent(list(embeddings.values()), present)
        pooled = []
        for (a, b), left, right, norm in zip(
            self.pairs, self.left, self.right, self.norms
        ):
            joint = self.dropout(left(z[a]) * right(z[b]))
            joint = joint.view(-1, self.hidden_size, self.rank).sum(-1)
            pooled.append(norm(joint))
        return self.layers(torch.cat(pooled, dim=1)), {}


class GatedFusion(nn.Module):
    """Gated multimodal units (Arevalo et al., 2017) for any number of modalities.

    ``h_m = tanh(W_m z_m)``; the gates are, per sample and per hidden unit, a
    softmax over the modalities of ``G [z_1, ..., z_M] / T`` (computed from all
    modalities; the fixed temperature ``T = 1/4`` lets the gates move away from
    uniform early in training instead of lagging behind the features). The
    gated features ``gate_m * h_m`` are concatenated, keeping the modalities
    apart, and mixed by a ReLU layer. Absent modalities: gate
    closed (0); the gate network sees the learned absent embedding instead.
    ``info["gates"]`` is the mean gate of each modality, shape ``(n, M)``
    (rows sum to 1).
    """

    def __init__(self, input_sizes, hidden_size, dropout=0.0):
        super().__init__()
        sizes = list(input_sizes.values())
        self.transforms = nn.ModuleList([nn.Linear(d, hidden_size) for d in sizes])
        self.gate = nn.Linear(sum(sizes), hidden_size * len(sizes))
        self.absent = AbsentEmbedding(sizes)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Sequential(
            nn.Linear(len(sizes) * hidden_size, hidden_size), nn.ReLU()
        )
        self.hidden_size = hidden_size
        self.output_size = hidden_size

    def forward(self, embeddings, present):
        vectors = list(embeddings.values())
        h = torch.stack(
            [torch.tanh(t(z)) for t, z in zip(self.transforms, vectors)], dim=1
        )
        gate_in = torch.cat(self.absent(vectors, present), dim=1)
        logits = self.gate(gate_in).view(-1, len(vectors), self.hidden_size)
        logits = (logits / GATE_TEMPERATURE).masked_fill(
            ~present.unsqueeze(-1), float("-inf")
        )
        gates = torch.softmax(logits, dim=1)
        fused = self.output(self.dropout((gates * h).flatten(1)))
        return fused, {"gates": gates.mean(-1)}


class AttentionFusion(nn.Module):
    """Multi-head cross-modal attention over modality tokens.

    Every modality contributes tokens: its embedding (one token) or, when its
    branch emits a sequence, its sequence. Tokens are projected to
    ``hidden_size`` and tagged with a learned modality embedding. In a pre-norm
    transformer block, each token attends over the tokens of the *other*
    modalities plus a null key (``add_zero_attn``: attending to nothing is
    allowed, so a score acts like a sigmoid gate and a lone modality attends to
    nothing); the attended context ``c`` is added to the token ``x`` together
    with its Hadamard product ``LN(x) * c`` (the multiplicative joint embedding
    of attention-based VQA models), then a residual feed-forward layer follows.
    Each modality's outputs are averaged over its valid positions; the
    per-modality vectors are concatenated and fed to a ReLU layer.

    Absent modalities and padding positions are masked out of the keys (key
    padding mask), and an absent modality's own output is replaced by a learned
    absent embedding. ``info["attention"]`` has shape ``(n, M, M)``: entry
    ``[q, k]`` is the share of modality ``q``'s attention that went to modality
    ``k`` (averaged over heads and over ``q``'s positions); the diagonal is 0
    and the rest of each row went to the null key. ``info["step_attention"]``
    (``(n, L, L)``, ``L`` all positions of all modalities in order) is the same
    at the level of positions (tokens / frames).
    """

    uses_sequences = True

    def __init__(self, input_sizes, hidden_size, n_heads=4, dropout=0.0):
        super().__init__()
        n_modalities = len(input_sizes)
        self.projections = nn.ModuleList(
            [nn.Linear(d, hidden_size) for d in input_sizes.values()]
        )
        self.modality_embedding = nn.Parameter(
            torch.randn(n_modalities, hidden_size) * 0.02
        )
        self.attention = nn.MultiheadAttention(
            hidden_size,
            n_heads,
            dropout=dropout,
            batch_first=True,
            add_zero_attn=True,
        )
        self.norm1 = nn.LayerNorm(hidden_size)
        self.feed_forward = nn.Sequential(
            nn.Linear(hidden_size, 2 * hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden_size, hidden_size),
        )
        self.norm2 = nn.LayerNorm(hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.absent = AbsentEmbedding([hidden_size] * n_modalities)
        self.output = nn.Sequential(
            nn.Linear(n_modalities * hidden_size, hidden_size), nn.ReLU()
        )
        self.n_heads = n_heads
        self.output_size = hidden_size

    def _tokens(self, k, vector, sequence):
        """Tokens ``(n, T, hidden)`` and valid mask ``(n, T)`` of modality ``k``."""
        if sequence is None:
            sequence = vector.unsqueeze(1)
            valid = torch.ones(
                vector.shape[0], 1, dtype=torch.bool, device=vector.device
            )
        else:
            sequence, valid = sequence
        return self.projections[k](sequence) + self.modality_embedding[k], valid

    def forward(self, embeddings, present, sequences=None):
        sequences = sequences or {}
        n_modalities = present.shape[1]
        tokens, valid, owner = [], [], []
        for k, (name, vector) in enumerate(embeddings.items()):
            seq, seq_valid = self._tokens(k, vector, sequences.get(name))
            tokens.append(seq)
            valid.append(seq_valid)
            owner += [k] * seq.shape[1]
        x = torch.cat(tokens, dim=1)
        position_valid = torch.cat(valid, dim=1)  # (n, L)
        owner = torch.as_tensor(owner, device=x.device)
        key_ok = position_valid & present[:, owner]  # (n, L)
        other = owner.unsqueeze(0) != owner.unsqueeze(1)  # (L query, L key)
        allowed = key_ok.unsqueeze(1) & other.unsqueeze(0)
        mask = (~allowed).repeat_interleave(self.n_heads, dim=0)
        h = self.norm1(x)
        attended, weights = self.attention(
            h, h, h, attn_mask=mask, need_weights=True, average_attn_weights=True
        )
        # additive and multiplicative (Hadamard) use of the cross-modal context
        x = x + self.dropout(attended) + self.dropout(h * attended)
        x = x + self.dropout(self.feed_forward(self.norm2(x)))

        # pool each modality's positions: (n, L, M) weights, columns sum to 1
        onehot = nn.functional.one_hot(owner, n_modalities).to(x.dtype)
        query_weight = position_valid.to(x.dtype).unsqueeze(-1) * onehot
        query_weight = query_weight / query_weight.sum(1, keepdim=True).clamp_min(1.0)
        per_modality = torch.einsum("nlm,nlh->nmh", query_weight, x).unbind(1)
        per_modality = self.absent(list(per_modality), present)
        fused = self.output(torch.cat(per_modality, dim=1))

        to_key_modality = torch.einsum("nqk,km->nqm", weights[..., :-1], onehot)
        attention = torch.einsum("nqm,nqj->nmj", query_weight, to_key_modality)
        # position level (query position -> key position, heads averaged):
        # the fine-grained cross-modal map (skmm.alignment.cross_attention_map)
        return fused, {"attention": attention, "step_attention": weights[..., :-1]}


#: Built-in fusion names -> classes.
FUSIONS = {
    "early": EarlyFusion,
    "late": LateFusion,
    "tensor": TensorFusion,
    "low_rank_tensor": LowRankTensorFusion,
    "bilinear": BilinearFusion,
    "gated": GatedFusion,
    "attention": AttentionFusion,
}


def make_fusion(
    fusion, input_sizes, hidden_size, n_outputs, *, n_heads=4, rank=4, dropout=0.0
):
    """Build a fusion module from its name or class (see the module docstring)."""
    if isinstance(fusion, str):
        if fusion not in FUSIONS:
            raise ValueError(
                f"Unknown fusion {fusion!r}; expected one of {sorted(FUSIONS)} or an "
                "nn.Module class."
            )
        fusion = FUSIONS[fusion]
    optional = {"n_heads": n_heads, "rank": rank, "dropout": dropout}
    try:
        params = inspect.signature(fusion).parameters
    except (TypeError, ValueError):
        params = {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        accepted = optional
    else:
        accepted = {k: v for k, v in optional.items() if k in params}
    kwargs = {"input_sizes": dict(input_sizes), "hidden_size": hidden_size}
    if "n_outputs" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    ):
        kwargs["n_outputs"] = n_outputs
    module = fusion(**kwargs, **accepted)
    if not hasattr(module, "output_size"):
        module.output_size = hidden_size
    return module
