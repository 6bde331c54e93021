"""Snapshot ensembles: M networks for the price of one training run."""

import copy
import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import Callback

from skmm.utils._contract import row_index, user_rows
from skmm.utils._sklearn_compat import (
    HasMethods,
    Interval,
    _fit_context,
    _set_random_states,
)

__all__ = ["SnapshotEnsembleClassifier"]


class CyclicSnapshots(Callback):
    """skorch callback: cosine learning-rate cycles, a snapshot after each.

    Within each cycle of ``cycle_epochs`` epochs the learning rate of every
    parameter group follows a cosine from its initial value down to 0, batch
    by batch (Loshchilov & Hutter's warm restarts); at the end of a cycle --
    a local minimum reached with a vanishing step -- a CPU copy of the
    module's ``state_dict`` is appended to ``snapshots_``.

    Parameters
    ----------
    cycle_epochs : int
        Epochs per cycle.
    """

    def __init__(self, cycle_epochs):
        self.cycle_epochs = cycle_epochs

    def initialize(self):
        self.snapshots_ = []
        self.snapshot_epochs_ = []
        self._base_lrs = None
        self._n_batches = 1
        self._batch = 0
        return self

    def on_train_begin(self, net, **kwargs):
        self._base_lrs = [g["lr"] for g in net.optimizer_.param_groups]

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        batch_size = net.batch_size if net.batch_size not in (-1, None) else None
        n = len(dataset_train) if dataset_train is not None else 1
        self._n_batches = max(1, math.ceil(n / batch_size)) if batch_size else 1
        self._batch = 0

    def on_batch_begin(self, net, training=False, **kwargs):
        if not training:
            return
        epoch = len(net.history) - 1  # history row of the running epoch
        position = (epoch % self.cycle_epochs + self._batch / self._n_batches) / (
            self.cycle_epochs
        )
        factor = 0.5 * (1.0 + math.cos(math.pi * min(position, 1.0)))
        for group, base in zip(net.optimizer_.param_groups, self._base_lrs):
            group["lr"] = base * factor
        self._batch += 1

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch % self.cycle_epochs == 0:
            state = net.module_.state_dict()
            self.snapshots_.append(
                {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
            )
            self.snapshot_epochs_.append(epoch)


class SnapshotEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Snapshot ensemble of a network: one training run, ``n_snapshots`` members.

    The network (by default a :class:`~skmm.fusion.FusionClassifier`) is
    trained once for ``n_snapshots * cycle_epochs`` epochs with a cyclic
    cosine learning rate that restarts every ``cycle_epochs`` epochs; the
    weights at the end of every cycle are kept, and the ensemble averages the
    class probabilities of these snapshots. The restarts push the network out
    of one minimum into another, so the snapshots disagree like independently
    trained networks (a deep ensemble, e.g.
    ``ModalityBaggingClassifier(net, bootstrap=False)``) while costing a single
    training run (Huang et al., 2017).

    The schedule and the snapshots are a skorch callback added to the
    network's ``callbacks`` parameter, so any skorch-based skmm estimator with
    ``max_epochs`` and ``callbacks`` parameters and a fitted ``net_`` works.

    Parameters
    ----------
    estimator : estimator, default=None
        The network; ``None`` means ``FusionClassifier()``. Its ``max_epochs``
        is replaced by ``n_snapshots * cycle_epochs``; its ``lr`` is the peak
        of every cycle. It must not use early stopping (which would cut the
        cycles and restore other weights).
    n_snapshots : int, default=5
        Number of cycles, hence of members.
    cycle_epochs : int, default=10
        Epochs per cycle.
    random_state : int, RandomState instance or None, default=None
        When given, seeds the network's ``random_state`` (nested ones too);
        by default the network's own seed is used.

    Attributes
    ----------
    estimator_ : estimator
        The network at the end of training (the last snapshot).
    estimators_ : list of estimators
        One fitted copy of the network per snapshot, in training order.
    snapshot_epochs_ : list of int
        Epoch at which each snapshot was taken.
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of str
        Column names of ``X`` seen in fit (when they are all strings).

    See Also
    --------
    ModalityBaggingClassifier : With ``bootstrap=False``, a deep ensemble
        (independent training runs from different seeds).
    ensemble_diversity : How much the snapshots disagree.

    References
    ----------
    .. [1] G. Huang, Y. Li, G. Pleiss, Z. Liu, J. Hopcroft, K. Weinberger,
           "Snapshot Ensembles: Train 1, get M for free", ICLR 2017.
    .. [2] I. Loshchilov, F. Hutter, "SGDR: Stochastic Gradient Descent with
           Warm Restarts", ICLR 2017.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> from skmm.ensemble import SnapshotEnsembleClassifier
    >>> from skmm.fusion import FusionClassifier
    >>> X, y = make_multimodal_classification(200, random_state=0)
    >>> net = FusionClassifier("late", hidden_size=8, lr=0.01, random_state=0)
    >>> snap = SnapshotEnsembleClassifier(net, n_snapshots=3, cycle_epochs=4)
    >>> snap = snap.fit(X, y)
    >>> snap.snapshot_epochs_, len(snap.estimators_)
    ([4, 8, 12], 3)
    >>> snap.predict_proba(X[:2]).shape
    (2, 2)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "n_snapshots": [Interval(numbers.Integral, 1, None, closed="left")],
        "cycle_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    #: Members keep the labels of y (the diversity inspection needs to know).
    _members_see_labels = True

    _EXPECTED_FAILED_CHECKS = {
        "check_estimators_pickle": (
            "as for FusionClassifier: the check scatters single NaN values over "
            "the one 'features' block of plain numeric X, which skmm rejects by "
            "design (a missing modality is an all-NaN block). Pickle round trips "
            "are tested in tests/test_ensemble_diversity.py."
        ),
        "check_sample_weight_equivalence_on_dense_data": (
            "as for FusionClassifier: minibatch training makes integer weights "
            "equal repeated rows only up to float32 rounding."
        ),
    }

    def __init__(
        self, estimator=None, *, n_snapshots=5, cycle_epochs=10, random_state=None
    ):
        self.estimator = estimator
        self.n_snapshots = n_snapshots
        self.cycle_epochs = cycle_epochs
        self.random_state = random_state

    def _make_network(self):
        if self.estimator is None:
            from skmm.fusion import FusionClassifier

            return FusionClassifier()
        return clone(self.estimator)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Train the network once and keep a snapshot per learning-rate cycle.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            What the network takes (an encoded matrix for FusionClassifier).
        y : array-like of shape (n_samples,)
            The class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the network's ``fit``.

        Returns
        -------
        self : SnapshotEnsembleClassifier
            The fitted ensemble.
        """
        validate_data(self, X, ensure_all_finite="allow-nan", dtype=None)
        net = self._make_network()
        params = net.get_params(deep=False)
        missing = [p for p in ("max_epochs", "callbacks") if p not in params]
        if missing:
            raise ValueError(
                f"SnapshotEnsembleClassifier needs a skorch-based network with "
                f"max_epochs and callbacks parameters; {type(net).__name__} lacks "
                f"{missing}."
            )
        if params.get("early_stopping"):
            raise ValueError(
                "The network uses early_stopping=True, which would cut the "
                "learning-rate cycles and restore other weights; set it to False "
                "(the snapshots replace early stopping)."
            )
        if self.random_state is not None:
            _set_random_states(net, check_random_state(self.random_state))
        callbacks = list(params["callbacks"] or [])
        names = {c[0] for c in callbacks if isinstance(c, tuple)}
        if "snapshots" in names:
            raise ValueError("The network already has a callback named 'snapshots'.")
        callbacks.append(("snapshots", CyclicSnapshots(self.cycle_epochs)))
        net.set_params(
            max_epochs=self.n_snapshots * self.cycle_epochs, callbacks=callbacks
        )
        with user_rows(None, row_index(X)):  # errors name the user's row labels
            if sample_weight is None:
                net.fit(X, y)
            else:
                net.fit(X, y, sample_weight=sample_weight)
        recorder = dict(net.net_.callbacks_)["snapshots"]
        states, epochs = recorder.snapshots_, recorder.snapshot_epochs_
        recorder.snapshots_ = []  # not copied into every member
        members = []
        for state in states:
            member = copy.deepcopy(net)
            member.net_.module_.load_state_dict(state)
            members.append(member)
        self.estimator_ = net
        self.estimators_ = members
        self.snapshot_epochs_ = list(epochs)
        self.classes_ = net.classes_
        return self

    def predict_proba(self, X):
        """Mean class probabilities of the snapshots.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The same kind of input as in fit.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``.
        """
        check_is_fitted(self)
        validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=None)
        from skmm.fusion import FusionClassifier

        first = self.estimators_[0]
        if type(first).predict_proba is FusionClassifier.predict_proba:
            # the snapshots are one network at several epochs: same layout, same
            # checks; validate X and build the network inputs once, then run
            # every snapshot's forward pass on them
            inputs = first._inputs(X)
            probas = (member._proba(inputs) for member in self.estimators_)
        else:
            probas = (member.predict_proba(X) for member in self.estimators_)
        total = None
        for proba in probas:
            proba = np.asarray(proba, dtype=np.float64)
            total = proba if total is None else total + proba
        return total / len(self.estimators_)

    def predict_log_proba(self, X):
        """Log of the mean class probabilities of the snapshots.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The same kind of input as in fit.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            The log of :meth:`predict_proba` (``-inf`` where a probability is
            0), columns ordered as ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Class with the highest mean probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The same kind of input as in fit.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            The predicted class labels.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            inner = get_tags(self._make_network())
            tags.input_tags.allow_nan = inner.input_tags.allow_nan
            tags.input_tags.sparse = inner.input_tags.sparse
        except Exception:  # invalid parameters fail at fit with a clear message
            pass
        return tags
