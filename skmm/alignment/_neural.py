"""Trainable aligners: ContrastiveAligner, AdversarialAligner, CycleAligner.

Built and trained the one way skmm builds and trains networks: branches from
:func:`skmm.fusion._network.make_block_specs` /
:func:`skmm.fusion._branches.make_branch`, skorch training, device, seeding,
early stopping and callbacks from
:class:`skmm.fusion._training.BaseNetworkEstimator`; the objective (the loss
and its projection heads) from :mod:`skmm.alignment._losses`.
"""

import numbers

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch.helper import SliceDict
from torch import nn

from skmm.alignment._base import _BaseAligner
from skmm.alignment._network import AlignmentNetwork
from skmm.fusion._branches import BRANCHES
from skmm.fusion._network import check_token_blocks, make_block_specs, network_inputs
from skmm.fusion._training import BaseNetworkEstimator, _inference_context
from skmm.metrics._retrieval import make_retrieval_scorer
from skmm.utils._contract import row_index, user_rows
from skmm.utils._fitting import atomic_fit
from skmm.utils._sklearn_compat import Interval, StrOptions, _fit_context
from skmm.utils._torch import torch_threads

__all__ = ["AdversarialAligner", "ContrastiveAligner", "CycleAligner"]

#: Rows embedded per forward pass at transform time.
_EMBED_BATCH = 2048


class _BaseNeuralAligner(_BaseAligner, BaseNetworkEstimator):
    """Branches + projection heads trained by an objective of ``_losses``."""

    _dtype = np.float32
    _objective = None

    _parameter_constraints = {
        **BaseNetworkEstimator._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "branches": [StrOptions(set(BRANCHES)), type, dict],
        "modalities": [dict, None],
        "block_shapes": [dict, None],
    }

    def _objective_kwargs(self, specs):
        return {}

    def _prepare_target(self, y):
        return None, None, None, {}

    def _check_params(self, specs):
        if isinstance(self.optimizer, type) and not issubclass(
            self.optimizer, torch.optim.Optimizer
        ):
            raise ValueError(
                f"optimizer class must subclass torch.optim.Optimizer; got "
                f"{self.optimizer!r}."
            )
        if any(s.branch == "transformer" for s in specs) and (
            self.hidden_size % self.n_heads
        ):
            raise ValueError(
                f"hidden_size={self.hidden_size} must be divisible by "
                f"n_heads={self.n_heads} for transformer branches."
            )

    @atomic_fit
    def _fit(self, X, y):
        X, layout, present = self._validate_train(X)
        specs = make_block_specs(
            X,
            present,
            layout,
            feature_names=getattr(self, "feature_names_in_", None),
            branches=self.branches,
            block_shapes=self.block_shapes,
        )
        self._check_params(specs)
        target, n_outputs, criterion, fitted = self._prepare_target(y)
        net = self._train_network(
            AlignmentNetwork,
            {
                "blocks": specs,
                "objective": self._objective,
                "n_components": self.n_components,
                "hidden_size": self.hidden_size,
                "n_heads": self.n_heads,
                "dropout": self.dropout,
                "n_outputs": n_outputs,
                "objective_kwargs": self._objective_kwargs(specs),
            },
            SliceDict(**network_inputs(X, present, specs)),
            target,
            criterion=criterion,
            split_labels=None if target is None else target.numpy(),
        )
        for name, value in fitted.items():
            setattr(self, name, value)
        self.modalities_ = {spec.name: spec.columns for spec in specs}
        self.branches_ = {spec.name: spec.branch for spec in specs}
        self._blocks = specs
        self.net_ = net
        self.history_ = net.history
        self._set_output_names(self.n_components)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the aligner on the paired samples of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix, two or more modality blocks; missing modalities as
            all-NaN blocks.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted aligner.
        """
        return self._fit(X, None)

    def _validate_apply(self, X):
        # the prediction-time validation of skmm's networks (one finiteness
        # pass for the inf check and the missing blocks; same errors)
        check_is_fitted(self)
        with user_rows(None, row_index(X)):  # errors name the DataFrame's row label
            X, present, _ = self._validate_encoded(X, self.modalities_)
        return X, present

    def _embed(self, X, present):
        check_token_blocks(X, present, self._blocks)
        module = self.net_.module_
        module.eval()
        parts = [[] for _ in self.modalities_]
        with torch_threads(), _inference_context(module):
            for start in range(0, X.shape[0], _EMBED_BATCH):
                rows = slice(start, start + _EMBED_BATCH)
                inputs = network_inputs(X[rows], present[rows], self._blocks)
                inputs = {k: v.to(self.net_.device) for k, v in inputs.items()}
                for k, z in enumerate(module.embed(**inputs)):
                    parts[k].append(z.cpu().to(torch.float64).numpy())
        out = {}
        for k, name in enumerate(self.modalities_):
            out[name] = np.concatenate(parts[k])[present[:, k]]
        return out


_NET_PARAMS_DOC = """    n_components : int, default=32
        Dimension of the shared space.
    branches : str, nn.Module class or dict, default="mlp"
        Per-modality network (as in :class:`~skmm.fusion.FusionClassifier`):
        ``"mlp"``, ``"identity"``, ``"cnn"``, ``"lstm"``, ``"gru"``,
        ``"transformer"``, an ``nn.Module`` class, or ``{modality: branch}``.
    modalities : dict, default=None
        Explicit layout ``{modality: columns}`` (see
        :func:`skmm.utils.resolve_modalities`).
    block_shapes : dict, default=None
        ``{modality: shape}`` grid shapes for cnn and sequence branches.
$specific
    hidden_size : int, default=64
        Width of the branches (and decoders / discriminator).
    n_heads : int, default=4
        Heads of transformer branches.
    dropout : float, default=0.0
        Dropout inside the branches.
    max_epochs : int, default=50
        Passes over the training data.
    batch_size : int, default=128
        Training mini-batch size.
    lr : float, default=1e-3
        Learning rate.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, \
default="adam"
        ``"sgd"`` uses momentum 0.9.
    weight_decay : float, default=0.0
        Weight decay (L2 penalty) passed to the optimizer.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the samples and stop when the
        validation alignment loss has not improved by ``tol`` (relative) for
        ``n_iter_no_change`` epochs; restore the best weights.
    validation_fraction : float, default=0.1
        Fraction of the samples held out for early stopping (only used with
        ``early_stopping=True``).
    n_iter_no_change : int, default=10
        Epochs without improvement of the validation loss before stopping
        (only used with ``early_stopping=True``).
    tol : float, default=1e-4
        Relative improvement of the validation loss that counts as one (only
        used with ``early_stopping=True``).
    callbacks : list, default=None
        Extra skorch callbacks, copied at each fit.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and dropout: same seed, same outputs
        on CPU.
    device : str, default="cpu"
        Torch device (``"cuda"``, ``"auto"``...).
    verbose : int, default=0
        Print skorch's per-epoch log.
"""

_ATTRS_DOC = """    modalities_ : dict of str to ndarray of int
        Column positions of each modality.
    branches_ : dict of str to str or type
    n_components_ : int
    net_ : skorch.NeuralNet
        Its ``module_`` is a :class:`skmm.alignment._network.AlignmentNetwork`.
    history_ : skorch.History
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.
"""


class ContrastiveAligner(_BaseNeuralAligner):
    __doc__ = (
        """CLIP-style contrastive aligner: symmetric InfoNCE between modalities.

    Each modality goes through its branch and a linear projection head; the
    L2-normalised projections of the two modalities of a sample are pulled
    together and pushed away from the other samples of the batch (symmetric
    cross-entropy over the cosine-similarity matrix scaled by a learned
    inverse temperature). With more than two modalities every pair is
    contrasted, or only pairs with ``anchor``. A sample with a missing
    modality still trains the pairs it has.

    Parameters
    ----------
"""
        + _NET_PARAMS_DOC.replace(
            "$specific",
            """    anchor : str or None, default=None
        Contrast every modality with this one only (e.g. the text, as in
        ImageBind); None: every pair of modalities.
    temperature : float, default=0.07
        Initial temperature of the softmax (learned, >= 0.01).""",
        )
        + """
    Attributes
    ----------
"""
        + _ATTRS_DOC
        + """
    See Also
    --------
    CCAAligner : The linear, closed-form alternative.

    References
    ----------
    .. [1] Radford et al. "Learning Transferable Visual Models From Natural
       Language Supervision" (CLIP), ICML 2021.
    .. [2] van den Oord et al. "Representation Learning with Contrastive
       Predictive Coding" (InfoNCE), 2018.

    Examples
    --------
    >>> from skmm.alignment import ContrastiveAligner
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, _ = make_multimodal_classification(
    ...     64, modalities={"text": 6, "image": 5}, random_state=0)
    >>> aligner = ContrastiveAligner(n_components=4, max_epochs=2,
    ...                              random_state=0).fit(X)
    >>> aligner.transform(X).shape
    (64, 8)
"""
    )

    _objective = "contrastive"
    _parameter_constraints = {
        **_BaseNeuralAligner._parameter_constraints,
        "anchor": [str, None],
        "temperature": [Interval(numbers.Real, 0.01, None, closed="left")],
    }

    def __init__(
        self,
        n_components=32,
        *,
        branches="mlp",
        modalities=None,
        block_shapes=None,
        anchor=None,
        temperature=0.07,
        hidden_size=64,
        n_heads=4,
        dropout=0.0,
        max_epochs=50,
        batch_size=128,
        lr=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        self.n_components = n_components
        self.branches = branches
        self.modalities = modalities
        self.block_shapes = block_shapes
        self.anchor = anchor
        self.temperature = temperature
        self.hidden_size = hidden_size
        self.n_heads = n_heads
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check_params(self, specs):
        super()._check_params(specs)
        names = [s.name for s in specs]
        if self.anchor is not None and self.anchor not in names:
            raise ValueError(
                f"anchor={self.anchor!r} is not a modality; the modalities are {names}."
            )

    def _objective_kwargs(self, specs):
        names = [s.name for s in specs]
        return {
            "anchor": None if self.anchor is None else names.index(self.anchor),
            "temperature": self.temperature,
        }


class AdversarialAligner(_BaseNeuralAligner):
    __doc__ = (
        """Adversarial aligner: modality-invariant embeddings via gradient reversal.

    Each modality goes through its branch and a linear head into the shared
    space. A discriminator tries to tell which modality an embedding came from;
    its gradient reaches the heads reversed (a gradient-reversal layer), so the
    heads learn embeddings whose modality cannot be told apart. Decoders keep
    the embeddings informative and paired: each embedding reconstructs its own
    block and, for paired samples, the partner modality's block
    (cross-reconstruction). With ``y`` (class labels) a supervised
    cross-entropy on the mean embedding is added, as in domain-adversarial
    training.

    Parameters
    ----------
"""
        + _NET_PARAMS_DOC.replace(
            "$specific",
            """    adversarial_weight : float, default=0.1
        Gradient-reversal factor: how strongly the heads fight the
        discriminator.""",
        )
        + """
    Attributes
    ----------
"""
        + _ATTRS_DOC
        + """    classes_ : ndarray
        Labels of the supervised term (only when fitted with ``y``).

    References
    ----------
    .. [1] Ganin and Lempitsky, "Unsupervised Domain Adaptation by
       Backpropagation", ICML 2015.

    Examples
    --------
    >>> from skmm.alignment import AdversarialAligner
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(
    ...     64, modalities={"text": 6, "image": 5}, random_state=0)
    >>> aligner = AdversarialAligner(n_components=4, max_epochs=2,
    ...                              random_state=0).fit(X, y)
    >>> aligner.transform(X).shape, aligner.classes_.tolist()
    ((64, 8), [0, 1])
"""
    )

    _objective = "adversarial"
    _parameter_constraints = {
        **_BaseNeuralAligner._parameter_constraints,
        "adversarial_weight": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=32,
        *,
        branches="mlp",
        modalities=None,
        block_shapes=None,
        adversarial_weight=0.1,
        hidden_size=64,
        n_heads=4,
        dropout=0.0,
        max_epochs=50,
        batch_size=128,
        lr=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        self.n_components = n_components
        self.branches = branches
        self.modalities = modalities
        self.block_shapes = block_shapes
        self.adversarial_weight = adversarial_weight
        self.hidden_size = hidden_size
        self.n_heads = n_heads
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _objective_kwargs(self, specs):
        return {"strength": self.adversarial_weight}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the aligner (and the supervised term when ``y`` is given).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix, two or more modality blocks.
        y : array-like of shape (n_samples,), default=None
            Class labels for the optional supervised term.

        Returns
        -------
        self : AdversarialAligner
            The fitted aligner.
        """
        return self._fit(X, y)

    def _prepare_target(self, y):
        if y is None:
            return None, None, None, {}
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(
                f"y must be 1-D class labels for the supervised term; got shape "
                f"{y.shape}."
            )
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        codes = torch.from_numpy(encoder.transform(y).astype(np.int64))
        return (
            codes,
            len(encoder.classes_),
            nn.CrossEntropyLoss,
            {"classes_": encoder.classes_},
        )


class _Unimputed:
    """A CycleAligner seen without its imputation (for scoring)."""

    def __init__(self, aligner):
        self.aligner = aligner

    def transform(self, X):
        return _BaseAligner.transform(self.aligner, X)

    def get_feature_names_out(self, input_features=None):
        return self.aligner.get_feature_names_out(input_features)


class CycleAligner(_BaseNeuralAligner):
    __doc__ = (
        """Cycle-consistent aligner: translation between modalities.

    Each modality is encoded (branch + linear head) into the shared space and
    decoded back by a per-modality decoder. Training combines reconstruction
    (a block from its own code), translation (a block from its partner's code,
    on paired samples), cycle consistency (A -> B -> A: the translation of a
    code into modality B, re-encoded by B's branch, must decode back to A;
    this uses every sample of A, paired or not) and agreement of paired codes.
    ``impute=True`` fills an absent modality's embedding from the present ones
    (their mean in the shared space), so a downstream model sees every block.

    Parameters
    ----------
"""
        + _NET_PARAMS_DOC.replace(
            "$specific",
            """    cycle_weight : float, default=1.0
        Weight of the cycle-consistency term.
    impute : bool, default=False
        ``transform`` fills the embedding of a missing modality (NaN
        otherwise) with the mean of the sample's present embeddings; a sample
        with no modality stays NaN.""",
        )
        + """
    Attributes
    ----------
"""
        + _ATTRS_DOC
        + """
    Notes
    -----
    Every block is decoded, so blocks of token ids (sequence branches on
    ``(L,)`` shapes) take part only as sources, never as translation targets.

    References
    ----------
    .. [1] Pham et al. "Found in Translation: Learning Robust Joint
       Representations by Cyclic Translations Between Modalities", AAAI 2019.
    .. [2] Zhu et al. "Unpaired Image-to-Image Translation using
       Cycle-Consistent Adversarial Networks", ICCV 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.alignment import CycleAligner
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, _ = make_multimodal_classification(
    ...     64, modalities={"text": 6, "image": 5}, random_state=0)
    >>> X.iloc[:10, :6] = np.nan  # no text for the first 10 samples
    >>> aligner = CycleAligner(n_components=4, max_epochs=2, impute=True,
    ...                        random_state=0).fit(X)
    >>> bool(np.isnan(aligner.transform(X)).any())
    False
"""
    )

    _objective = "cycle"
    _parameter_constraints = {
        **_BaseNeuralAligner._parameter_constraints,
        "cycle_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "impute": ["boolean"],
    }

    def __init__(
        self,
        n_components=32,
        *,
        branches="mlp",
        modalities=None,
        block_shapes=None,
        cycle_weight=1.0,
        impute=False,
        hidden_size=64,
        n_heads=4,
        dropout=0.0,
        max_epochs=50,
        batch_size=128,
        lr=1e-3,
        optimizer="adam",
        weight_decay=0.0,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        self.n_components = n_components
        self.branches = branches
        self.modalities = modalities
        self.block_shapes = block_shapes
        self.cycle_weight = cycle_weight
        self.impute = impute
        self.hidden_size = hidden_size
        self.n_heads = n_heads
        self.dropout = dropout
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _objective_kwargs(self, specs):
        return {"cycle_weight": self.cycle_weight}

    def score(self, X, y=None):
        """Mean reciprocal rank of cross-modal retrieval on ``X``.

        As :meth:`CCAAligner.score`, on the real embeddings: imputed ones never
        take part, whatever ``impute``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix with the training layout; missing modalities as
            all-NaN blocks.
        y : array-like of shape (n_samples,), default=None
            Labels: a candidate matches a query when they share the label. By
            default each sample's other modality is its only match.

        Returns
        -------
        score : float in [0, 1]
            The mean reciprocal rank, averaged over every ordered pair of
            modalities (greater is better).
        """
        return make_retrieval_scorer("mean_reciprocal_rank")(_Unimputed(self), X, y)

    def transform(self, X):
        """Embed every modality; with ``impute=True`` fill the missing ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix with the training layout; missing modalities as
            all-NaN blocks.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_modalities * n_components)
            ``n_components_`` columns per modality: blocks
            ``"{modality}__{k}"``; a missing modality's block is NaN, or with
            ``impute=True`` the mean of the sample's present embeddings (NaN
            when none is present).
        """
        Z = super().transform(X)
        if self.impute:
            check_is_fitted(self)
            d, M = self.n_components_, len(self.modalities_)
            blocks = Z.reshape(Z.shape[0], M, d)
            present = ~np.isnan(blocks).any(axis=2)
            counts = present.sum(axis=1, keepdims=True)
            mean = np.where(present[..., None], blocks, 0.0).sum(axis=1) / np.maximum(
                counts, 1
            )
            fill = ~present & (counts > 0)
            blocks[fill] = np.broadcast_to(mean[:, None, :], blocks.shape)[fill]
            Z = blocks.reshape(Z.shape)
        return Z
