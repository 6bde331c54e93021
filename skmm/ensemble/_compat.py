"""The private scikit-learn names skmm.ensemble relies on, imported in one place.

The ensembles subclass scikit-learn's Bagging, AdaBoost and Stacking and reuse
their machinery. Everything private they need is imported here, so that a
scikit-learn release that moves one of these names breaks one module.
"""

from sklearn.base import _fit_context
from sklearn.ensemble._base import (
    _BaseHeterogeneousEnsemble,
    _fit_single_estimator,
    _partition_estimators,
    _set_random_states,
)
from sklearn.ensemble._bootstrap import _get_n_samples_bootstrap
from sklearn.utils._mask import indices_to_mask
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    RealNotInt,
    StrOptions,
)
from sklearn.utils._repr_html.estimator import _VisualBlock
from sklearn.utils.metadata_routing import (
    _manual_routing,
    _raise_for_params,
    _raise_for_unsupported_routing,
    _routing_enabled,
    get_routing_for_object,
)
from sklearn.utils.validation import (
    _check_feature_names_in,
    _check_method_params,
    _check_sample_weight,
    _check_y,
    _estimator_has,
    _num_samples,
)

__all__ = [
    "HasMethods",
    "Interval",
    "RealNotInt",
    "StrOptions",
    "_BaseHeterogeneousEnsemble",
    "_VisualBlock",
    "_check_feature_names_in",
    "_check_method_params",
    "_check_sample_weight",
    "_check_y",
    "_estimator_has",
    "_fit_context",
    "_fit_single_estimator",
    "_get_n_samples_bootstrap",
    "_manual_routing",
    "_num_samples",
    "_partition_estimators",
    "_raise_for_params",
    "_raise_for_unsupported_routing",
    "_routing_enabled",
    "_set_random_states",
    "get_routing_for_object",
    "indices_to_mask",
]
