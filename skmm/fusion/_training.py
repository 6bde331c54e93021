"""The one way skmm trains a network: skorch plumbing shared by every network estimator.

Every trainable network in skmm (the fusion networks, the aligners, fine-tuned
backbones) is an ``nn.Module`` assembled by the network builder
(:mod:`skmm.fusion._network`) and trained here:

* :class:`BaseNetworkEstimator` holds the shared training parameters, their
  ``_parameter_constraints``, the seeded construction and training of the skorch
  net (:meth:`BaseNetworkEstimator._train_network`) and inference
  (:meth:`BaseNetworkEstimator._forward`).
* :class:`SkmmNet` is the skorch net: a sample-weighted loss (skorch FAQ recipe),
  auxiliary losses reported by the module, unsupervised training (``y=None``),
  and ``KeyboardInterrupt`` re-raised instead of swallowed.
* :class:`TensorBatchIterator` batches dicts of tensors by direct indexing.

Auxiliary losses
----------------
A module may assign a scalar tensor to ``self.aux_loss`` during ``forward``
(and must reset it to ``None`` at the start of every ``forward``). The net adds
it to the task loss of that batch. With ``y=None`` (an unsupervised estimator
such as an aligner) the loss is the auxiliary loss alone; such a module computes
it in evaluation mode too, so that the validation loss of early stopping is
defined.
"""

import copy
import math
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils.validation import check_array, validate_data
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from skorch.utils import to_tensor
from torch import nn

from skmm.utils._fitting import atomic_fit
from skmm.utils._layout import nonfinite_rows, presence_from_nan
from skmm.utils._sklearn_compat import Interval, StrOptions
from skmm.utils._torch import resolve_device, torch_threads

__all__ = [
    "OPTIMIZERS",
    "BaseNetworkEstimator",
    "SkmmNet",
    "TensorBatchIterator",
    "atomic_fit",
]

#: Optimizers by name, with the keyword arguments skmm adds to them.
OPTIMIZERS = {
    "adam": (torch.optim.Adam, {}),
    "adamw": (torch.optim.AdamW, {}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9}),
    "rmsprop": (torch.optim.RMSprop, {}),
}

#: Smallest batch used for inference (prediction and validation loss).
MIN_INFERENCE_BATCH = 256


def _silent(*args, **kwargs):
    """A sink that prints nothing (EarlyStopping messages when verbose=0)."""


def _inference_context(module):
    """``torch.inference_mode()`` for skmm's own networks, else ``torch.no_grad()``.

    Inference mode skips autograd's version counters and view tracking (1-2%
    of a small network's forward pass), but a tensor made under it cannot be
    saved for backward later: a module that keeps tensors between calls (a
    Hugging Face rotary-embedding cache, a user's module) would break the next
    training step. skmm's and ``torch.nn``'s modules keep none, so inference
    mode is used only when every submodule is one of theirs.
    """
    own = all(
        type(m).__module__.startswith(("skmm.", "torch.nn.")) for m in module.modules()
    )
    return torch.inference_mode() if own else torch.no_grad()


class TensorBatchIterator:
    """Mini-batches of a skorch ``Dataset`` of tensors, by direct tensor indexing.

    skorch's default ``DataLoader`` fetches and collates one sample at a time,
    which costs more than a small network's step. This iterator (used as
    skorch's ``iterator_train``/``iterator_valid``) indexes whole batches out of
    the tensors instead; shuffling draws ``torch.randperm`` from the seeded
    global generator. ``torch.utils.data.Subset`` views (skorch's internal
    validation split) are resolved to index tensors.
    """

    def __init__(self, dataset, batch_size=128, shuffle=False):
        indices = None
        while isinstance(dataset, torch.utils.data.Subset):
            idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
            indices = idx if indices is None else idx[indices]
            dataset = dataset.dataset
        self.X = {k: torch.as_tensor(v) for k, v in dataset.X.items()}
        self.y = None if dataset.y is None else torch.as_tensor(dataset.y)
        self.indices = indices
        self.n = len(indices) if indices is not None else len(dataset)
        self.batch_size = self.n if batch_size in (-1, None) else int(batch_size)
        self.batch_size = max(1, self.batch_size)
        self.shuffle = shuffle

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = torch.randperm(self.n) if self.shuffle else None
        if self.indices is not None:
            order = self.indices if order is None else self.indices[order]
        for start in range(0, self.n, self.batch_size):
            if order is None:
                idx = slice(start, start + self.batch_size)
            else:
                idx = order[start : start + self.batch_size]
            Xb = {k: v[idx] for k, v in self.X.items()}
            yield Xb, (None if self.y is None else self.y[idx])


class _NoCriterion(nn.Module):
    """Criterion of an unsupervised net: the module's auxiliary loss is the loss."""

    def forward(self, y_pred, y_true):  # pragma: no cover - never called
        raise RuntimeError("an unsupervised skmm net has no task criterion")


class TrainingInterrupted(KeyboardInterrupt):
    """``KeyboardInterrupt`` raised out of a fit that skorch would have swallowed."""


class SkmmNet(NeuralNet):
    """skorch net with a sample-weighted loss, auxiliary losses and honest interrupts.

    * Weighted loss (skorch FAQ recipe): the criterion does not reduce
      (``reduction="none"``), the weights travel inside the dict ``X`` (key
      ``"sample_weight"``, only when weights were given) so they are batched and
      split with the data, and the batch loss is ``sum(w * l) / sum(w)``
      (integer weights act like repeated rows; rows with weight 0 do not
      contribute, not even a non-finite loss).
    * Auxiliary loss: ``module_.aux_loss`` (see the module docstring) is added.
      With ``y=None`` it is the whole loss.
    * skorch catches ``KeyboardInterrupt`` in its training loop and returns a
      half-trained net as if the fit had finished; this net records the
      interrupt so that :meth:`BaseNetworkEstimator._train_network` re-raises
      it. A ``KeyboardInterrupt`` raised by a callback at the end of an epoch
      is skorch's way of stopping early (``EarlyStopping``) and stays a normal
      end of training.
    """

    def _set_training(self, training=True):
        # Called for every batch; skmm's modules switch all their submodules
        # together, so skip the recursive ``train()`` walk when the mode is
        # already right.
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if isinstance(module, nn.Module) and module.training != training:
                module.train(training)

    def get_params_for_optimizer(self, prefix, named_parameters):
        # Frozen parameters (e.g. of a frozen pretrained backbone) stay out of
        # the optimizer. A module with ``param_groups(named_parameters, lr)``
        # sets its own groups (backbone_lr, layer-wise lr decay) unless the
        # user gave ``optimizer__param_groups``.
        named_parameters = [(n, p) for n, p in named_parameters if p.requires_grad]
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        groups = getattr(self.module_, "param_groups", None)
        user_groups = f"{prefix}__param_groups" in self.get_params(deep=False)
        if prefix == "optimizer" and callable(groups) and not user_groups:
            args = (groups(named_parameters, kwargs.get("lr", self.lr)),)
        return args, kwargs

    def get_loss(self, y_pred, y_true, X=None, training=False):
        aux = getattr(self.module_, "aux_loss", None)
        if y_true is None:
            if aux is None:
                raise RuntimeError(
                    "an unsupervised skmm net needs a module that sets aux_loss"
                )
            return aux
        y_true = to_tensor(y_true, device=self.device)
        loss = self.criterion_(y_pred, y_true)
        if loss.dim() > 1:
            loss = loss.reshape(loss.shape[0], -1).mean(dim=1)
        weight = X.get("sample_weight") if isinstance(X, Mapping) else None
        if weight is None:
            loss = loss.mean()
        else:
            weight = weight.to(device=loss.device, dtype=loss.dtype)
            loss = torch.where(weight > 0, loss, torch.zeros_like(loss))
            loss = (weight * loss).sum() / weight.sum().clamp_min(1e-12)
        if aux is not None:
            loss = loss + aux
        return loss

    def notify(self, method_name, **cb_kwargs):
        try:
            super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt:
            # skorch's EarlyStopping (and callbacks like it) stop training by
            # raising KeyboardInterrupt at the end of an epoch: a request, not
            # an interrupt.
            if method_name == "on_epoch_end":
                self.stop_requested_ = True
            raise

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        self.interrupted_ = self.stop_requested_ = False
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            # skorch's partial_fit swallows it; a real interrupt is re-raised
            # by BaseNetworkEstimator._train_network after on_train_end
            self.interrupted_ = not self.stop_requested_
            raise


class BaseNetworkEstimator(BaseEstimator):
    """Training parameters and the seeded skorch training shared by skmm's networks.

    Subclasses declare their own parameters in ``__init__`` (sklearn style) and
    extend ``_parameter_constraints`` with ``{**BaseNetworkEstimator.
    _parameter_constraints, ...}``. Their ``fit`` builds the module's keyword
    arguments from the data and calls :meth:`_train_network`.
    """

    _parameter_constraints = {
        "hidden_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_heads": [Interval(numbers.Integral, 1, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "callbacks": [list, tuple, None],
        "random_state": ["random_state"],
        "device": [str, None],
        "verbose": ["verbose"],
    }

    #: Whether the validation split is stratified on the target (classifiers).
    _stratify = False

    def _check_optimizer(self):
        if isinstance(self.optimizer, type) and not issubclass(
            self.optimizer, torch.optim.Optimizer
        ):
            raise ValueError(
                f"optimizer class must subclass torch.optim.Optimizer; got "
                f"{self.optimizer!r}."
            )

    def _train_split(self, labels, seed):
        if not self.early_stopping:
            return None
        stratified = False
        if self._stratify and labels is not None:
            n = len(labels)
            n_valid = math.ceil(self.validation_fraction * n)
            counts = np.bincount(labels)
            counts = counts[counts > 0]
            stratified = bool(
                counts.min() >= 2
                and n_valid >= counts.size
                and n - n_valid >= counts.size
            )
        return ValidSplit(
            self.validation_fraction, stratified=stratified, random_state=seed
        )

    def _callbacks(self):
        callbacks = []
        if self.early_stopping:
            callbacks.append(
                (
                    "skmm_early_stopping",
                    EarlyStopping(
                        monitor="valid_loss",
                        patience=self.n_iter_no_change,
                        threshold=self.tol,
                        threshold_mode="rel",
                        load_best=True,
                        sink=print if self.verbose else _silent,
                    ),
                )
            )
        for callback in self.callbacks or ():
            callbacks.append(copy.deepcopy(callback))
        return callbacks

    def _optimizer_kwargs(self):
        self._check_optimizer()
        if isinstance(self.optimizer, type):
            optimizer, kwargs = self.optimizer, {}
        else:
            optimizer, kwargs = OPTIMIZERS[self.optimizer]
        kwargs = {**kwargs, "weight_decay": self.weight_decay}
        return optimizer, {f"optimizer__{k}": v for k, v in kwargs.items()}

    def _seed(self):
        return int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )

    def _train_network(
        self,
        module,
        module_kwargs,
        inputs,
        target=None,
        *,
        criterion=None,
        split_labels=None,
        net_kwargs=None,
    ):
        """Build a skorch net around ``module`` and train it, seeded.

        Parameters
        ----------
        module : nn.Module class
            Built by skorch as ``module(**module_kwargs)``.
        module_kwargs : dict
            Constructor arguments of the module.
        inputs : skorch.helper.SliceDict
            Keyword arguments of the module's ``forward`` (tensors, first axis
            = samples).
        target : Tensor or None, default=None
            ``None`` for unsupervised training on the module's ``aux_loss``.
        criterion : nn.Module class, default=None
            Built with ``reduction="none"``; required when ``target`` is given.
        split_labels : ndarray of int, default=None
            Labels to stratify the early-stopping validation split on.
        net_kwargs : dict, default=None
            More skorch ``NeuralNet`` arguments (e.g. ``optimizer__param_groups``).

        Returns
        -------
        net : SkmmNet
            The trained net.

        Raises
        ------
        KeyboardInterrupt
            When training was interrupted; the caller's fitted state is left as
            it was (see :func:`atomic_fit`).
        """
        seed = self._seed()
        device = resolve_device(self.device)
        optimizer, optimizer_kwargs = self._optimizer_kwargs()
        if target is None:
            criterion_kwargs = {"criterion": _NoCriterion}
        else:
            criterion_kwargs = {"criterion": criterion, "criterion__reduction": "none"}
        net = SkmmNet(
            module=module,
            **{f"module__{k}": v for k, v in module_kwargs.items()},
            **criterion_kwargs,
            optimizer=optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=TensorBatchIterator,
            iterator_train__shuffle=True,
            iterator_valid=TensorBatchIterator,
            iterator_valid__batch_size=self._inference_batch_size(module_kwargs),
            train_split=self._train_split(split_labels, seed),
            callbacks=self._callbacks(),
            device=device,
            verbose=int(self.verbose),
            **optimizer_kwargs,
            **(net_kwargs or {}),
        )
        cuda_devices = (
            [torch.device(device).index or 0] if device.startswith("cuda") else []
        )
        with torch_threads(), torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            net.fit(inputs, target)
        if getattr(net, "interrupted_", False):
            raise TrainingInterrupted(
                f"{type(self).__name__}.fit was interrupted after "
                f"{len(net.history)} epoch(s); the estimator keeps its previous "
                "state (unfitted, or the previous fit)."
            )
        return net

    def _validate_encoded(self, X, layout):
        """Validate an encoded matrix at prediction time; find its missing blocks.

        The checks of ``validate_data(self, X, reset=False,
        ensure_all_finite="allow-nan", dtype=np.float32)`` followed by
        :func:`~skmm.utils.modality_presence`, with the data read once: one
        row-sum screen (:func:`~skmm.utils._layout.nonfinite_rows`) finds the
        rows that may hold a NaN or an inf, and only those are checked
        exactly, giving both the inf error (sklearn's own message) and the NaN
        mask the presence is derived from. A DataFrame of plain numpy numeric
        columns skips sklearn's per-column pandas dtype inspection (which only
        acts on extension, sparse, string or object columns; those take the
        full route); its names are checked by ``validate_data`` unless they are
        exactly the names seen in fit, and its float32 array by
        ``check_array``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Encoded matrix.
        layout : dict of str to ndarray of int
            Fitted modality layout.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float32
            C- or F-ordered (a DataFrame gives a column-major array), possibly
            read-only.
        present : ndarray of shape (n_samples, n_modalities), dtype=bool
        missing : bool
            Whether any value is NaN (False: ``present`` is all True).
        """
        if isinstance(X, pd.DataFrame) and all(
            isinstance(d, np.dtype) and d.kind in "fiu" for d in X.dtypes
        ):
            names = getattr(self, "feature_names_in_", None)
            if names is None or not np.array_equal(
                X.columns.to_numpy(dtype=object), names
            ):
                # sklearn's messages and warnings; the same names as in fit
                # pass these checks and need not go through them
                validate_data(self, X, reset=False, skip_check_array=True)
            X = check_array(
                np.asarray(X, dtype=np.float32),
                ensure_all_finite=False,
                dtype=np.float32,
                estimator=self,
                input_name="X",
            )
        else:
            X = validate_data(
                self, X, reset=False, ensure_all_finite=False, dtype=np.float32
            )
        rows = nonfinite_rows(X)
        nan = None
        if rows.size:
            suspect = X[rows]
            nan = np.isnan(suspect)
            if np.isinf(suspect).any():
                # inf, or a value too large for float32: sklearn's own error
                assert_all_finite(
                    suspect,
                    allow_nan=True,
                    estimator_name=type(self).__name__,
                    input_name="X",
                )
        present = presence_from_nan(nan, layout, n_samples=X.shape[0], rows=rows)
        return X, present, nan is not None and bool(nan.any())

    def _inference_batch_size(self, module_kwargs):
        """Rows per batch of prediction and validation (eval mode, no grad).

        Subclasses whose networks are light per row may return more, to cut
        the per-batch overhead; memory must stay bounded.
        """
        return max(self.batch_size, MIN_INFERENCE_BATCH)

    def _map_batches(self, inputs, func):
        """``[func(module, batch) for batch in inputs]`` in eval mode, without grad.

        The batches come from the net's own validation iterator
        (``iterator_valid``, :meth:`_inference_batch_size` rows each), moved to
        the net's device. This is skorch's ``NeuralNet.forward`` without its
        generic per-batch conversions (``to_tensor`` over the batch dict,
        device parsing, the fitted check), which cost 2-5% of a small
        network's pass; the inputs are already tensors
        (:func:`~skmm.fusion._network.network_inputs`). The module runs under
        :func:`_inference_context`.
        """
        net = self.net_
        module = net.module_
        if module.training:
            module.eval()
        device = torch.device(net.device)
        on_cpu = device.type == "cpu"
        batches = net.get_iterator(net.get_dataset(inputs), training=False)
        outputs = []
        with torch_threads(), _inference_context(module):
            for Xb, _ in batches:
                if not on_cpu:
                    Xb = {k: v.to(device) for k, v in Xb.items()}
                outputs.append(func(module, Xb))
        return outputs

    def _forward(self, inputs):
        """Module outputs for ``inputs`` (eval mode, no grad), on the CPU."""
        return torch.cat(
            self._map_batches(inputs, lambda module, Xb: module(**Xb).cpu())
        )

    def __setstate__(self, state):
        # A model trained on CUDA and unpickled on a machine without CUDA: skorch
        # moves the net to the CPU (with a DeviceWarning); the estimator's own
        # ``device`` follows, so that predicting and refitting work there.
        device = state.get("device")
        if (
            isinstance(device, str)
            and device.startswith("cuda")
            and not torch.cuda.is_available()
        ):
            warnings.warn(
                f"{type(self).__name__} was trained with device={device!r}, "
                "which is not available here; it is loaded with device='cpu'.",
                UserWarning,
                stacklevel=2,
            )
            state = {**state, "device": "cpu"}
        super().__setstate__(state)
