"""FusionClassifier and FusionRegressor: sklearn estimators over skorch nets."""

import numbers

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.helper import SliceDict
from torch import nn

from skmm.exceptions import InvalidSampleError
from skmm.fusion._branches import BRANCHES, CNN_NORMS
from skmm.fusion._fusers import FUSIONS
from skmm.fusion._network import (
    FusionNetwork,
    check_token_blocks,
    inference_batch_size,
    make_block_specs,
    network_inputs,
)
from skmm.fusion._pretrained import PretrainedBranch
from skmm.fusion._training import BaseNetworkEstimator, atomic_fit
from skmm.utils import modality_presence, resolve_modalities
from skmm.utils._contract import row_index, user_rows
from skmm.utils._sklearn_compat import Interval, StrOptions, _fit_context

__all__ = ["FusionClassifier", "FusionRegressor"]


def _check_sample_weight(sample_weight, n_samples):
    if sample_weight is None:
        return np.ones(n_samples, dtype=np.float32)
    weight = np.asarray(sample_weight, dtype=np.float64)
    if weight.ndim == 0:
        weight = np.full(n_samples, float(weight))
    if weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {weight.shape}, expected ({n_samples},)!"
        )
    if not np.isfinite(weight).all():
        raise ValueError("sample_weight must be finite.")
    if (weight < 0).any():
        raise ValueError("Negative values in data passed to sample_weight.")
    if not (weight > 0).any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return weight.astype(np.float32)


def _check_some_present(present, names):
    # a loop over the few modality columns: any(axis=1) over a short inner
    # axis is slow
    empty = ~present[:, 0]
    for k in range(1, present.shape[1]):
        empty &= ~present[:, k]
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        others = int(empty.sum()) - 1
        raise InvalidSampleError(
            f"all {len(names)} modalities {list(names)} are missing (NaN); a fusion "
            "model needs at least one modality per sample"
            + (f" ({others} more such samples)" if others else ""),
            index=i,
        )


class _BaseFusion(BaseNetworkEstimator):
    """Shared machinery of FusionClassifier and FusionRegressor."""

    #: sklearn common checks that fail by design, with the reason (for
    #: ``parametrize_with_checks(..., expected_failed_checks=...)``).
    _EXPECTED_FAILED_CHECKS = {
        "check_estimators_pickle": (
            "the check scatters single NaN values over the one 'features' block "
            "of plain numeric X; skmm rejects a partly-NaN modality block "
            "(InvalidSampleError) by design, a missing modality is an all-NaN "
            "block. Pickle/joblib round trips (with missing modalities) are "
            "tested in tests/test_fusion.py."
        ),
        "check_sample_weight_equivalence_on_dense_data": (
            "integer weights equal repeated rows exactly only in exact "
            "arithmetic: with full-batch training the predictions agree to "
            "float32 rounding (~1e-6 relative, above the check's rtol=1e-7), and "
            "with mini-batches the batches themselves differ. Agreement to 1e-4 "
            "is tested in tests/test_fusion.py."
        ),
    }

    _parameter_constraints = {
        **BaseNetworkEstimator._parameter_constraints,
        "fusion": [StrOptions(set(FUSIONS)), type],
        "branches": [StrOptions(set(BRANCHES)), type, PretrainedBranch, dict],
        "modalities": [dict, None],
        "block_shapes": [dict, None],
        "rank": [Interval(numbers.Integral, 1, None, closed="left")],
        "modality_dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "feature_noise": [Interval(numbers.Real, 0, None, closed="left")],
        "spec_augment": [Interval(numbers.Real, 0, 1, closed="left")],
        "per_sample_norm": ["boolean"],
        "cnn_norm": [StrOptions(set(CNN_NORMS))],
        "alignment": [StrOptions({"contrastive", "cycle", "adversarial"}), None],
        "alignment_weight": [Interval(numbers.Real, 0, None, closed="left")],
    }

    def _check_params(self, specs):
        """Cross-parameter checks that constraints cannot express."""
        if isinstance(self.fusion, type) and not issubclass(self.fusion, nn.Module):
            raise ValueError(
                f"fusion class must subclass torch.nn.Module; got {self.fusion!r}."
            )
        uses_heads = self.fusion == "attention" or any(
            s.branch == "transformer" for s in specs
        )
        if uses_heads and self.hidden_size % self.n_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} must be divisible by "
                f"n_heads={self.n_heads} for attention fusion and transformer "
                "branches."
            )

    def _module_kwargs(self, specs, n_outputs, output_mask):
        """Constructor arguments of the :class:`FusionNetwork`."""
        return {
            "blocks": specs,
            "fusion": self.fusion,
            "hidden_size": self.hidden_size,
            "n_outputs": n_outputs,
            "n_heads": self.n_heads,
            "rank": self.rank,
            "dropout": self.dropout,
            "modality_dropout": self.modality_dropout,
            "alignment": self.alignment,
            "alignment_weight": self.alignment_weight,
            "output_mask": output_mask,
            "feature_noise": self.feature_noise,
            "spec_augment": self.spec_augment,
            "per_sample_norm": self.per_sample_norm,
            "cnn_norm": self.cnn_norm,
        }

    def _inference_batch_size(self, module_kwargs):
        return inference_batch_size(
            module_kwargs["blocks"], self.hidden_size, self.batch_size
        )

    @atomic_fit
    def _fit(self, X, y, sample_weight):
        index = row_index(X)
        X, y = validate_data(
            self,
            X,
            y,
            ensure_all_finite="allow-nan",
            dtype=np.float32,
            **self._y_validation,
        )
        weight = _check_sample_weight(sample_weight, X.shape[0])
        feature_names = getattr(self, "feature_names_in_", None)
        layout = resolve_modalities(feature_names, X.shape[1], self.modalities)
        with user_rows(None, index):  # errors name the DataFrame's row label
            present = modality_presence(X, layout)
            _check_some_present(present, list(layout))
            specs = make_block_specs(
                X,
                present,
                layout,
                feature_names=feature_names,
                branches=self.branches,
                block_shapes=self.block_shapes,
                sample_weight=weight,
            )
        self._check_params(specs)
        target, n_outputs, output_mask, criterion, fitted = self._prepare_target(
            y, weight
        )
        # weights only ride along in the batches when they were given
        inputs = SliceDict(
            **network_inputs(
                X, present, specs, None if sample_weight is None else weight
            )
        )
        net = self._train_network(
            FusionNetwork,
            self._module_kwargs(specs, n_outputs, output_mask),
            inputs,
            target,
            criterion=criterion,
            split_labels=target.numpy() if self._stratify else None,
        )
        # fitted state is assigned only once training succeeded
        for name, value in fitted.items():
            setattr(self, name, value)
        self.modalities_ = {spec.name: spec.columns for spec in specs}
        self.block_shapes_ = {spec.name: spec.shape for spec in specs}
        self.branches_ = {spec.name: spec.branch for spec in specs}
        self._blocks = specs
        self.net_ = net
        self.history_ = net.history
        return self

    def _inputs(self, X):
        check_is_fitted(self)
        with user_rows(None, row_index(X)):  # errors name the DataFrame's row label
            X, present, missing = self._validate_encoded(X, self.modalities_)
            if missing:
                _check_some_present(present, list(self.modalities_))
            check_token_blocks(X, present, self._blocks)
        return SliceDict(**network_inputs(X, present, self._blocks, row_major=False))

    def _raw_output(self, X):
        """Network outputs (logits or standardized targets) as a float64 array."""
        return self._forward(self._inputs(X)).to(torch.float64).numpy()

    def explain_fusion(self, X):
        """What the fusion did for each sample, for plots and debugging.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix; missing modalities as NaN blocks.

        Returns
        -------
        info : dict of str to ndarray
            Per-sample arrays (first axis ``n_samples``); modality axes follow
            ``modalities_``. Always ``"present"`` (bool, ``(n, M)``); then, by
            fusion type, ``"weights"`` (late: the weight of each modality's head,
            rows sum to 1, 0 for absent modalities), ``"gates"`` (gated: mean
            gate value of each modality, rows sum to 1, 0 for absent ones) or
            ``"attention"`` (attention: ``(n, M, M)``, entry ``[q, k]`` = share
            of modality ``q``'s attention that went to modality ``k``, 0 for
            absent ``k``; the rest went to "nothing"). A user fusion module
            reports the tensors of its ``info`` dict.

        Examples
        --------
        >>> from skmm.datasets import make_multimodal_classification
        >>> from skmm.fusion import FusionClassifier
        >>> X, y = make_multimodal_classification(n_samples=60, random_state=0)
        >>> clf = FusionClassifier("late", hidden_size=8, max_epochs=2,
        ...                        random_state=0).fit(X, y)
        >>> info = clf.explain_fusion(X.iloc[:2])
        >>> sorted(info), info["weights"].shape
        (['present', 'weights'], (2, 3))
        """
        infos = self._map_batches(
            self._inputs(X), lambda module, Xb: module(**Xb, return_info=True)[1]
        )
        parts = {}
        for info in infos:
            for key, value in info.items():
                if torch.is_tensor(value):
                    parts.setdefault(key, []).append(value.detach().cpu())
        return {key: torch.cat(values).numpy() for key, values in parts.items()}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


_PARAMS_DOC = """
    Parameters
    ----------
    fusion : str or nn.Module class, default="early"
        How the modality embeddings are combined:

        - ``"early"``: concatenate, then an MLP layer.
        - ``"late"``: a linear head per modality; a learned weighted average of
          their outputs (renormalised over the present modalities).
        - ``"tensor"``: outer-product tensor fusion of ``[1, z_m]``.
        - ``"low_rank_tensor"``: its low-rank factorisation (``rank``).
        - ``"bilinear"``: factorised bilinear pooling (``rank`` factors), of
          every pair of modalities.
        - ``"gated"``: gated multimodal units, per-sample modality gates.
        - ``"attention"``: multi-head cross-modal attention (``n_heads``);
          sequence branches contribute their whole sequence as tokens.
        - an ``nn.Module`` class following the fusion interface documented in
          ``skmm.fusion._fusers``.
    branches : str, nn.Module class, PretrainedBranch or dict, default="mlp"
        Per-modality network before fusion, for every modality or as
        ``{modality: branch}`` (others get ``"mlp"``): ``"mlp"``,
        ``"identity"``, ``"cnn"`` (a ``(C, H, W)`` or ``(H, W)`` grid),
        ``"lstm"``, ``"gru"``, ``"transformer"`` (``(T, F...)`` frames or a
        1-D ``(L,)`` block of token ids), an ``nn.Module`` class (interface
        in ``skmm.fusion._branches``), or a
        :class:`~skmm.fusion.PretrainedBranch` fine-tuning a pretrained text,
        image or audio backbone (loaded in ``fit``).
    modalities : dict, default=None
        Explicit layout ``{modality: columns}`` when the column names carry no
        ``"{modality}__"`` prefix; see :func:`skmm.utils.resolve_modalities`.
        Plain numeric X without either is one block, ``"features"``.
    block_shapes : dict, default=None
        ``{modality: shape}`` grid shapes for cnn and sequence branches; by
        default inferred from ``"{stem}:{i}:{j}..."`` feature names.
$classes
    hidden_size : int, default=64
        Width of branches and fusion.
    n_heads : int, default=4
        Attention heads (attention fusion, transformer branches); must divide
        ``hidden_size`` there.
    rank : int, default=4
        Rank of ``"low_rank_tensor"``; factors per unit of ``"bilinear"``.
    dropout : float, default=0.1
        Dropout inside branches and fusion.
    modality_dropout : float, default=0.0
        Training-time probability of dropping each present modality of a
        sample (at least one is kept), so the model learns to predict from any
        subset of modalities.
    feature_noise : float, default=0.0
        Training-time Gaussian noise added to every present float block, in
        units of its standardized features (e.g. 0.5: half a standard
        deviation), so that the model does not lean on fine detail of a
        modality that may be noisy at prediction time. Never applied when
        predicting.
    spec_augment : float, default=0.0
        Training-time SpecAugment-style masking of grid blocks (``(T, F)``
        spectrograms, ``(H, W)`` or ``(C, H, W)`` images): per sample, one band
        of up to this fraction of the time (row) axis and one of the frequency
        (column) axis are masked.
    per_sample_norm : bool, default=False
        Standardize every grid block per sample (over its grid), at training
        and prediction time: level and gain changes of a recording or a photo,
        and the floor that additive noise raises in a log-mel spectrogram, no
        longer shift the features.
    cnn_norm : {"none", "batch", "group"}, default="none"
        Normalisation layers after each convolution of the ``"cnn"`` branches
        (``"group"`` uses per-sample statistics).
    alignment : {"contrastive", "cycle", "adversarial"} or None, default=None
        An alignment objective on the branch embeddings, trained jointly with
        the task (implicit alignment): InfoNCE between modality projections,
        cyclic translation through per-modality decoders, or a modality
        discriminator through gradient reversal (see
        :mod:`skmm.alignment` and the "Alignment" user guide). Absent
        modalities are masked out of it exactly as from the fusion.
    alignment_weight : float, default=0.1
        Weight of the alignment loss added to the task loss.
    max_epochs : int, default=50
        Passes over the training data.
    batch_size : int, default=64
        Training mini-batch size.
    lr : float, default=1e-3
        Learning rate.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or Optimizer class, \
default="adam"
        ``"sgd"`` uses momentum 0.9.
    weight_decay : float, default=0.0
        Weight decay (L2 penalty) passed to the optimizer.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for
        classifiers when possible), stop when the validation loss has not
        improved by ``tol`` (relative) for ``n_iter_no_change`` epochs, and
        restore the best weights.
    validation_fraction : float, default=0.1
        Fraction of the training data held out for early stopping (only used
        with ``early_stopping=True``).
    n_iter_no_change : int, default=10
        Epochs without improvement of the validation loss before stopping
        (only used with ``early_stopping=True``).
    tol : float, default=1e-4
        Relative improvement of the validation loss that counts as one (only
        used with ``early_stopping=True``).
    callbacks : list, default=None
        Extra skorch callbacks (instances or ``(name, callback)`` tuples),
        copied at each ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation
        split. Same seed -> same predictions on CPU.
    device : str, default="cpu"
        Torch device (``"cuda"``, ``"auto"``...). A fitted model unpickles on a
        CPU-only machine.
    verbose : int, default=0
        Print skorch's per-epoch log.
"""

_ATTRIBUTES_DOC = """
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.
    modalities_ : dict of str to ndarray of int
        Column positions of each modality.
    block_shapes_ : dict of str to tuple or None
        Grid shape used for each modality.
    branches_ : dict of str to str or type
        Branch of each modality.
    net_ : skorch.NeuralNet
        The trained skorch net; its ``module_`` is a
        :class:`skmm.fusion._network.FusionNetwork`.
    history_ : skorch.History
        Per-epoch training log (``history_[:, "train_loss"]``).
"""

_NOTES_DOC = """
    The input is the encoded float matrix (e.g. from
    :class:`~skmm.compose.MultimodalEncoder`). Float blocks are standardized
    inside the network with (weighted) training statistics: per column, per
    channel for ``"cnn"``, per frame feature for sequence branches. A missing
    modality is an all-NaN block; a partly NaN block and a sample with every
    modality missing are errors (:class:`~skmm.exceptions.InvalidSampleError`),
    at fit and at predict time. Missing modalities are masked, never
    zero-filled: each fusion type handles absence its own way (see
    ``skmm.fusion._fusers``), and any subset of modalities can be predicted
    from.

    ``sample_weight`` weights the per-sample loss: each batch's loss is
    ``sum(w * loss) / sum(w)``, so integer weights act like repeated rows and
    zero weights like removed rows (exactly so for full-batch training, in
    expectation for mini-batches).

    Token blocks (a sequence branch on a 1-D ``(L,)`` shape, e.g. columns
    ``"token:i"``) hold integer ids: 0 = padding, 1 = unknown; the embedding
    has ``max id seen in training + 1`` rows and larger ids map to 1.

    Persistence: pickle/joblib files run code on load; open trusted files only.
"""


class FusionClassifier(ClassifierMixin, _BaseFusion):
    __doc__ = (
        """Classifier training a multimodal fusion network with skorch.

    Each modality block of the encoded matrix goes through its own branch, the
    fusion module combines them, and a linear layer gives class logits.
"""
        + _PARAMS_DOC.replace(
            "$classes\n",
            """    classes : array-like, default=None
        The full label set. Labels absent from a training set (or present only
        with zero weight) still get a ``predict_proba`` column, with probability
        0. By default, the labels of ``y``.
""",
        )
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted labels; the columns of ``predict_proba``.
"""
        + _ATTRIBUTES_DOC
        + """
    See Also
    --------
    FusionRegressor : The regression counterpart.
    skmm.compose.MultimodalEncoder : Raw table -> the encoded matrix.

    Notes
    -----"""
        + _NOTES_DOC
        + """
    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.fusion import FusionClassifier
    >>> X, y = make_multimodal_classification(n_samples=120, random_state=0)
    >>> clf = FusionClassifier("gated", hidden_size=16, max_epochs=5,
    ...                        random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape
    (120, 2)
    >>> sorted(clf.modalities_)
    ['audio', 'image', 'text']
    >>> clf.explain_fusion(X.iloc[:3])["gates"].shape
    (3, 3)
"""
    )

    _y_validation = {}
    _stratify = True

    def __init__(
        self,
        fusion="early",
        *,
        branches="mlp",
        modalities=None,
        block_shapes=None,
        classes=None,
        hidden_size=64,
        n_heads=4,
        rank=4,
        dropout=0.1,
        modality_dropout=0.0,
        feature_noise=0.0,
        spec_augment=0.0,
        per_sample_norm=False,
        cnn_norm="none",
        alignment=None,
        alignment_weight=0.1,
        max_epochs=50,
        batch_size=64,
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
        self.fusion = fusion
        self.branches = branches
        self.modalities = modalities
        self.block_shapes = block_shapes
        self.classes = classes
        self.hidden_size = hidden_size
        self.n_heads = n_heads
        self.rank = rank
        self.dropout = dropout
        self.modality_dropout = modality_dropout
        self.feature_noise = feature_noise
        self.spec_augment = spec_augment
        self.per_sample_norm = per_sample_norm
        self.cnn_norm = cnn_norm
        self.alignment = alignment
        self.alignment_weight = alignment_weight
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the fusion network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix; missing modalities as NaN blocks.
        y : array-like of shape (n_samples,)
            Labels (any labels scikit-learn classifiers accept).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the per-sample loss.

        Returns
        -------
        self : FusionClassifier
            The fitted classifier.
        """
        return self._fit(X, y, sample_weight)

    def _prepare_target(self, y, weight):
        check_classification_targets(y)
        encoder = LabelEncoder()
        if self.classes is None:
            encoder.fit(y)
        else:
            classes = np.asarray(self.classes)
            if classes.ndim != 1 or classes.size == 0:
                raise ValueError(
                    f"classes must be a non-empty 1-D list of labels; got "
                    f"{self.classes!r}."
                )
            encoder.fit(classes)
            unknown = ~np.isin(y, encoder.classes_)
            if unknown.any():
                raise ValueError(
                    f"y contains labels that are not in classes: "
                    f"{np.unique(y[unknown]).tolist()[:5]} (classes="
                    f"{encoder.classes_.tolist()})."
                )
        classes = encoder.classes_
        codes = encoder.transform(y).astype(np.int64)
        seen = np.bincount(codes, weights=weight, minlength=len(classes)) > 0
        if seen.sum() < 2:
            found = classes[seen].tolist() if seen.any() else []
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes (with "
                f"non-zero weight) in y; the data contains only one class: {found}."
            )
        output_mask = None if seen.all() else seen
        return (
            torch.from_numpy(codes),
            len(classes),
            output_mask,
            nn.CrossEntropyLoss,
            {"classes_": classes},
        )

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix with the columns seen in fit; missing modalities as
            NaN blocks.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Softmax of the network's logits; each row sums to 1.
        """
        return self._proba(self._inputs(X))

    def _proba(self, inputs):
        """Class probabilities from validated network inputs (see ``_inputs``)."""
        logits = self._forward(inputs).to(torch.float64)
        # along dim 0 of the (n_classes, n) view: vectorised over the samples
        proba = torch.softmax(logits.T, dim=0).T.numpy()
        return np.ascontiguousarray(proba)

    def predict_log_proba(self, X):
        """Log of the class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix with the columns seen in fit; missing modalities as
            NaN blocks.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log of :meth:`predict_proba` (``-inf`` where a probability is
            0).
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted labels (from ``classes_``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix with the columns seen in fit; missing modalities as
            NaN blocks.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The label of the highest probability for each sample.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class FusionRegressor(RegressorMixin, _BaseFusion):
    __doc__ = (
        """Regressor training a multimodal fusion network with skorch.

    Like :class:`FusionClassifier`, with a linear output per target and a
    (weighted) mean squared error on standardized targets.
"""
        + _PARAMS_DOC.replace("$classes\n", "")
        + """
    Attributes
    ----------
"""
        + _ATTRIBUTES_DOC
        + """
    See Also
    --------
    FusionClassifier : The classification counterpart.

    Notes
    -----"""
        + _NOTES_DOC
        + """
    Examples
    --------
    >>> import numpy as np
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.fusion import FusionRegressor
    >>> X, _ = make_multimodal_classification(n_samples=120, random_state=0)
    >>> y = X["text__f0"].to_numpy() * X["audio__f1"].to_numpy()
    >>> reg = FusionRegressor("tensor", hidden_size=16, max_epochs=5,
    ...                       random_state=0).fit(X, y)
    >>> reg.predict(X).shape
    (120,)
"""
    )

    _y_validation = {"y_numeric": True, "multi_output": True}
    _stratify = False

    def __init__(
        self,
        fusion="early",
        *,
        branches="mlp",
        modalities=None,
        block_shapes=None,
        hidden_size=64,
        n_heads=4,
        rank=4,
        dropout=0.1,
        modality_dropout=0.0,
        feature_noise=0.0,
        spec_augment=0.0,
        per_sample_norm=False,
        cnn_norm="none",
        alignment=None,
        alignment_weight=0.1,
        max_epochs=50,
        batch_size=64,
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
        self.fusion = fusion
        self.branches = branches
        self.modalities = modalities
        self.block_shapes = block_shapes
        self.hidden_size = hidden_size
        self.n_heads = n_heads
        self.rank = rank
        self.dropout = dropout
        self.modality_dropout = modality_dropout
        self.feature_noise = feature_noise
        self.spec_augment = spec_augment
        self.per_sample_norm = per_sample_norm
        self.cnn_norm = cnn_norm
        self.alignment = alignment
        self.alignment_weight = alignment_weight
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

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train the fusion network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix; missing modalities as NaN blocks.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Numeric targets (standardized inside the network with the weighted
            training mean and standard deviation).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the per-sample loss.

        Returns
        -------
        self : FusionRegressor
            The fitted regressor.
        """
        return self._fit(X, y, sample_weight)

    def _prepare_target(self, y, weight):
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(len(y), -1)
        mean = np.average(y2, axis=0, weights=weight)
        scale = np.sqrt(np.average((y2 - mean) ** 2, axis=0, weights=weight))
        scale[scale < 1e-12 + 1e-9 * np.abs(mean)] = 1.0
        target = torch.from_numpy(((y2 - mean) / scale).astype(np.float32))
        fitted = {"_y_ndim": y.ndim, "_y_mean": mean, "_y_scale": scale}
        return target, y2.shape[1], None, nn.MSELoss, fitted

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix with the columns seen in fit; missing modalities as
            NaN blocks.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predictions on the scale of the training targets, with the shape
            of ``y`` in fit.
        """
        output = self._raw_output(X) * self._y_scale + self._y_mean
        return output.ravel() if self._y_ndim == 1 else output

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
