"""The trainable aligners' network: fusion branches + an alignment objective.

The branches are built exactly as in the fusion networks
(:func:`skmm.fusion._network.make_block_specs` and
:func:`skmm.fusion._branches.make_branch`); the objective
(:mod:`skmm.alignment._losses`) owns the projection heads into the shared space.
"""

import torch
from torch import nn

from skmm.alignment._losses import make_objective
from skmm.fusion._branches import make_branch
from skmm.fusion._network import block_key
from skmm.utils._torch import masked_mean

__all__ = ["AlignmentNetwork"]


class AlignmentNetwork(nn.Module):
    """Per-modality branches and projection heads trained by an objective.

    Parameters
    ----------
    blocks : list of BlockSpec
    objective : {"contrastive", "adversarial", "cycle"}
    n_components : int
        Shared-space dimension.
    hidden_size : int, default=64
    n_heads : int, default=4
    dropout : float, default=0.0
    n_outputs : int or None, default=None
        Add a supervised linear head on the mean of the present modalities'
        embeddings (the network's output is then its logits).
    objective_kwargs : dict, default=None

    Notes
    -----
    ``forward(present, sample_weight=None, **blocks)`` sets ``aux_loss`` (the
    objective on the batch) and returns the supervised logits, or the
    concatenated embeddings ``(n, M * n_components)`` (0 where absent).
    """

    def __init__(
        self,
        blocks,
        objective="contrastive",
        n_components=32,
        hidden_size=64,
        n_heads=4,
        dropout=0.0,
        n_outputs=None,
        objective_kwargs=None,
    ):
        super().__init__()
        self.kinds = [spec.kind for spec in blocks]
        self.branches = nn.ModuleList(
            [
                make_branch(spec, hidden_size, n_heads=n_heads, dropout=dropout)
                for spec in blocks
            ]
        )
        for k, spec in enumerate(blocks):
            if spec.kind == "float":
                self.register_buffer(f"mean{k}", torch.as_tensor(spec.mean))
                self.register_buffer(f"scale{k}", torch.as_tensor(spec.scale))
        sizes = [int(branch.output_size) for branch in self.branches]
        widths = [spec.size if spec.kind == "float" else None for spec in blocks]
        self.objective = make_objective(
            objective,
            sizes,
            n_components,
            widths=widths,
            hidden=hidden_size,
            **(objective_kwargs or {}),
        )
        self.head = None if n_outputs is None else nn.Linear(n_components, n_outputs)
        self.aux_loss = None

    def _branch(self, k, x):
        out = self.branches[k](x)
        if isinstance(out, tuple):
            out = masked_mean(*out)
        return out

    def _encode(self, k, x):
        return self.objective.project(k, self._branch(k, x))

    def _inputs(self, present, blocks):
        xs = []
        for k in range(len(self.branches)):
            x = blocks[block_key(k)]
            if self.kinds[k] == "float":
                x = (x - getattr(self, f"mean{k}")) / getattr(self, f"scale{k}")
            xs.append(torch.where(present[:, k : k + 1], x, 0.0))
        return xs

    def embed(self, present, **blocks):
        """Shared-space embeddings of every modality, ``[(n, n_components)]``."""
        present = present.bool()
        xs = self._inputs(present, blocks)
        return [self._encode(k, x) for k, x in enumerate(xs)]

    def forward(self, present, sample_weight=None, **blocks):
        present = present.bool()
        xs = self._inputs(present, blocks)
        hidden = [self._branch(k, x) for k, x in enumerate(xs)]
        self.aux_loss = self.objective(hidden, present, targets=xs, encode=self._encode)
        z = [self.objective.project(k, h) for k, h in enumerate(hidden)]
        if self.head is not None:
            weight = present.to(z[0].dtype)
            pooled = sum(zk * weight[:, k : k + 1] for k, zk in enumerate(z))
            pooled = pooled / weight.sum(1, keepdim=True).clamp_min(1.0)
            return self.head(pooled)
        return torch.cat(
            [torch.where(present[:, k : k + 1], zk, 0.0) for k, zk in enumerate(z)],
            dim=1,
        )
