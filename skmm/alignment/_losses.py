"""Alignment objectives, shared by the aligners and the fusion networks.

Each objective is an :class:`torch.nn.Module` that owns its small trainable
parts (projection heads, a modality discriminator, decoders) and computes a
scalar loss from the per-modality embeddings of a batch and the
``present`` mask. A row whose modality is absent never enters a term of that
modality; a pair term uses only the rows where both modalities are present.

* :class:`ContrastiveObjective` -- symmetric InfoNCE (CLIP) between the
  L2-normalised projections of every pair of modalities (or of an anchor
  modality and each other one), with a learnable temperature.
* :class:`AdversarialObjective` -- a modality discriminator trained through a
  gradient-reversal layer (:func:`grad_reverse`) on the projections: the
  discriminator learns to tell the modalities apart, the projections learn to
  make them indistinguishable. Decoders keep the projections informative
  (reconstruction of each block and of its partner: cross-reconstruction).
* :class:`CycleObjective` -- translation between modalities through
  per-modality decoders: reconstruction ``x_a <- z_a``, translation
  ``x_b <- z_a`` (pairs), cycle consistency ``x_a <- z_b' = E_b(D_b(z_a))``
  (A -> B -> A, every row of ``a``) and latent agreement ``z_a ~ z_b``.

:func:`make_objective` builds one from its name; ``objective.project(k, h)``
maps modality ``k``'s branch output to the shared space.
"""

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "OBJECTIVES",
    "AdversarialObjective",
    "ContrastiveObjective",
    "CycleObjective",
    "grad_reverse",
    "info_nce",
    "make_objective",
]


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, strength):
        ctx.strength = strength
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.strength * grad, None


def grad_reverse(x, strength=1.0):
    """Identity in the forward pass; multiplies the gradient by ``-strength``.

    Examples
    --------
    >>> import torch
    >>> from skmm.alignment._losses import grad_reverse
    >>> x = torch.ones(2, requires_grad=True)
    >>> grad_reverse(x, 0.5).sum().backward()
    >>> x.grad.tolist()
    [-0.5, -0.5]
    """
    return _GradientReversal.apply(x, float(strength))


def info_nce(za, zb, logit_scale):
    """Symmetric InfoNCE of paired rows (row ``i`` of ``za`` matches row ``i``).

    Parameters
    ----------
    za, zb : Tensor of shape (n, d)
        L2-normalised embeddings of two modalities of the same samples.
    logit_scale : Tensor
        Scalar multiplying the cosine similarities (1 / temperature).

    Returns
    -------
    loss : Tensor
        ``(CE(S, I) + CE(S', I)) / 2`` with ``S = logit_scale * za zb'``.

    Examples
    --------
    >>> import torch
    >>> from skmm.alignment._losses import info_nce
    >>> z = torch.nn.functional.normalize(torch.eye(4), dim=1)
    >>> float(info_nce(z, z, torch.tensor(50.0))) < 1e-6
    True
    """
    logits = logit_scale * za @ zb.T
    target = torch.arange(za.shape[0], device=za.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _zero(module):
    # a zero that keeps the graph connected (a batch may have no usable pair)
    return sum(p.sum() * 0.0 for p in module.parameters())


def _pairs(n_modalities, anchor):
    if anchor is None:
        return list(itertools.combinations(range(n_modalities), 2))
    return [(anchor, k) for k in range(n_modalities) if k != anchor]


def _masked_mse(pred, target, rows):
    if not bool(rows.any()):
        return None
    return F.mse_loss(pred[rows], target[rows])


def _mean(terms, module):
    terms = [t for t in terms if t is not None]
    return torch.stack(terms).mean() if terms else _zero(module)


class _Heads(nn.Module):
    """One linear projection per modality into the shared space."""

    def __init__(self, sizes, dim):
        super().__init__()
        self.heads = nn.ModuleList([nn.Linear(int(s), dim) for s in sizes])
        self.dim = dim

    def forward(self, k, h):
        return self.heads[k](h)


class ContrastiveObjective(nn.Module):
    """CLIP-style symmetric InfoNCE between modality projections.

    Parameters
    ----------
    sizes : list of int
        Branch output size of each modality.
    dim : int
        Dimension of the shared space.
    anchor : int or None, default=None
        Contrast every modality with this one only; None: every pair.
    temperature : float, default=0.07
        Initial temperature; learned (as ``log(1 / T)``, capped at 100).
    """

    normalize = True

    def __init__(self, sizes, dim, anchor=None, temperature=0.07, **kwargs):
        super().__init__()
        self.heads = _Heads(sizes, dim)
        self.pairs = _pairs(len(sizes), anchor)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def project(self, k, h):
        return F.normalize(self.heads(k, h), dim=-1)

    def forward(self, embeddings, present, targets=None, encode=None):
        z = [self.project(k, h) for k, h in enumerate(embeddings)]
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        terms = []
        for a, b in self.pairs:
            rows = present[:, a] & present[:, b]
            if int(rows.sum()) >= 2:
                terms.append(info_nce(z[a][rows], z[b][rows], scale))
        return _mean(terms, self)


class _Decoders(nn.Module):
    """Per-modality decoders from the shared space back to the (standardized)
    block; None for blocks that cannot be decoded (token ids)."""

    def __init__(self, dim, widths, hidden):
        super().__init__()
        self.index = [k for k, w in enumerate(widths) if w is not None]
        self.decoders = nn.ModuleDict(
            {
                str(k): nn.Sequential(
                    nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, widths[k])
                )
                for k in self.index
            }
        )

    def forward(self, k, z):
        return self.decoders[str(k)](z)


def _reconstruction_terms(z, targets, present, decoders):
    """Reconstruction (x_a <- z_a), translation (x_b <- z_a, pairs) and latent
    agreement (z_a ~ z_b, pairs) terms."""
    recon, translation, latent = [], [], []
    for a in decoders.index:
        recon.append(_masked_mse(decoders(a, z[a]), targets[a], present[:, a]))
    for a, b in itertools.permutations(range(len(z)), 2):
        rows = present[:, a] & present[:, b]
        if b in decoders.index:
            translation.append(_masked_mse(decoders(b, z[a]), targets[b], rows))
        if a < b:
            latent.append(_masked_mse(z[a], z[b], rows))
    return recon, translation, latent


class AdversarialObjective(nn.Module):
    """Modality discriminator through gradient reversal, plus cross-reconstruction.

    The heads get the discriminator's gradient reversed (scaled by
    ``strength``); decoders reconstruct each block from its own code and from
    the partner's code, and paired codes are pulled together, so that the
    embeddings stay informative and paired.

    Parameters
    ----------
    sizes : list of int
    dim : int
    widths : list of int or None
        Block widths of the decodable (float) blocks; None for token blocks.
    hidden : int
        Width of the discriminator and decoders.
    strength : float, default=1.0
        Gradient-reversal factor.
    """

    normalize = False

    def __init__(self, sizes, dim, widths, hidden=64, strength=1.0, **kwargs):
        super().__init__()
        self.heads = _Heads(sizes, dim)
        self.discriminator = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, len(sizes))
        )
        self.decoders = _Decoders(dim, widths, hidden)
        self.strength = strength

    def project(self, k, h):
        return self.heads(k, h)

    def forward(self, embeddings, present, targets=None, encode=None):
        z = [self.project(k, h) for k, h in enumerate(embeddings)]
        codes = torch.cat([z[k][present[:, k]] for k in range(len(z))])
        labels = torch.cat(
            [
                torch.full((int(present[:, k].sum()),), k, device=codes.device)
                for k in range(len(z))
            ]
        )
        logits = self.discriminator(grad_reverse(codes, self.strength))
        terms = [F.cross_entropy(logits, labels)] if len(labels) else []
        if targets is not None:
            recon, translation, latent = _reconstruction_terms(
                z, targets, present, self.decoders
            )
            terms += [_mean(t, self) for t in (recon, translation, latent)]
        return sum(terms) if terms else _zero(self)


class CycleObjective(nn.Module):
    """Cyclic translation between modalities through per-modality decoders.

    Parameters
    ----------
    sizes : list of int
    dim : int
    widths : list of int or None
        Block widths of the decodable (float) blocks; None for token blocks.
    hidden : int
        Decoder width.
    cycle_weight : float, default=1.0
        Weight of the cycle-consistency term (A -> B -> A), which needs
        ``encode`` (the branch and head of the target modality).
    """

    normalize = False

    def __init__(self, sizes, dim, widths, hidden=64, cycle_weight=1.0, **kwargs):
        super().__init__()
        self.heads = _Heads(sizes, dim)
        self.decoders = _Decoders(dim, widths, hidden)
        self.cycle_weight = cycle_weight

    def project(self, k, h):
        return self.heads(k, h)

    def forward(self, embeddings, present, targets=None, encode=None):
        z = [self.project(k, h) for k, h in enumerate(embeddings)]
        if targets is None:
            raise ValueError("The cycle objective needs the blocks as targets.")
        recon, translation, latent = _reconstruction_terms(
            z, targets, present, self.decoders
        )
        cycle = []
        for a, b in itertools.permutations(range(len(z)), 2):
            if (
                encode is not None
                and b in self.decoders.index
                and a in (self.decoders.index)
            ):
                rows_a = present[:, a]
                if bool(rows_a.any()):
                    translated = self.decoders(b, z[a][rows_a])
                    back = self.decoders(a, encode(b, translated))
                    cycle.append(F.mse_loss(back, targets[a][rows_a]))
        loss = _mean(recon, self) + _mean(translation, self) + _mean(latent, self)
        if cycle:
            loss = loss + self.cycle_weight * _mean(cycle, self)
        return loss


#: Objective names -> classes.
OBJECTIVES = {
    "contrastive": ContrastiveObjective,
    "adversarial": AdversarialObjective,
    "cycle": CycleObjective,
}


def make_objective(name, sizes, dim, *, widths=None, hidden=64, **kwargs):
    """Build an objective from its name (see :data:`OBJECTIVES`).

    Parameters
    ----------
    name : {"contrastive", "adversarial", "cycle"}
    sizes : list of int
        Branch output size per modality.
    dim : int
        Shared-space dimension.
    widths : list of int or None, default=None
        Decodable block widths (None entries for token blocks).
    hidden : int, default=64
    **kwargs
        Objective-specific (``anchor``, ``temperature``, ``strength``,
        ``cycle_weight``).
    """
    if name not in OBJECTIVES:
        raise ValueError(
            f"Unknown alignment objective {name!r}; expected one of "
            f"{sorted(OBJECTIVES)}."
        )
    if name != "contrastive":
        widths = [None] * len(sizes) if widths is None else list(widths)
        if sum(w is not None for w in widths) == 0:
            raise ValueError(
                f"The {name!r} objective decodes modality blocks, but every block "
                "holds token ids; use 'contrastive'."
            )
        kwargs = {**kwargs, "widths": widths, "hidden": hidden}
    return OBJECTIVES[name](sizes, dim, **kwargs)
