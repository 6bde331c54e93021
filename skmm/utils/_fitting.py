"""All-or-nothing fits: the one mechanism for fitted state that survives failures."""

import functools

__all__ = ["atomic_fit"]


def atomic_fit(fit):
    """Make ``fit`` all-or-nothing: on any exception, restore the prior state.

    The estimator's ``__dict__`` is copied (shallowly) before ``fit`` and put
    back if ``fit`` raises, ``KeyboardInterrupt`` included: an interrupted or
    failed fit leaves the estimator unfitted, or fitted as it was before. Fits
    that build new fitted objects (rather than mutating old ones in place) are
    fully protected. Apply it under ``_fit_context``::

        @_fit_context(prefer_skip_nested_validation=True)
        @atomic_fit
        def fit(self, X, y=None): ...

    Examples
    --------
    >>> from sklearn.base import BaseEstimator
    >>> from skmm.utils._fitting import atomic_fit
    >>> class Thing(BaseEstimator):
    ...     @atomic_fit
    ...     def fit(self, X):
    ...         self.n_ = len(X)
    ...         if not X:
    ...             raise ValueError("empty")
    ...         return self
    >>> thing = Thing().fit([1, 2])
    >>> try:
    ...     thing.fit([])
    ... except ValueError:
    ...     pass
    >>> thing.n_
    2
    """

    @functools.wraps(fit)
    def wrapper(estimator, *args, **kwargs):
        saved = dict(estimator.__dict__)
        try:
            return fit(estimator, *args, **kwargs)
        except BaseException:
            estimator.__dict__.clear()
            estimator.__dict__.update(saved)
            raise

    return wrapper
