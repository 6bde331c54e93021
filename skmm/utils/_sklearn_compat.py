"""The private scikit-learn names skmm relies on, imported in one place.

Parameter validation (``_fit_context``, ``Interval``, ``StrOptions``...), the
ensembles' reuse of scikit-learn's Bagging, AdaBoost and Stacking machinery and
``MultimodalEncoder``'s composition base all need names that scikit-learn does
not export publicly. Every such import lives in this module (and nowhere else
in skmm), so that a scikit-learn release that moves one of them breaks one
module, where a per-version fallback can be added.
"""

from sklearn.base import _fit_context
from sklearn.ensemble._base import (
    _BaseHeterogeneousEnsemble,
    _fit_single_estimator,
    _partition_estimators,
    _set_random_states,
)
from sklearn.ensemble._bootstrap import _get_n_samples_bootstrap
from sklearn.utils import _safe_indexing
from sklearn.utils._mask import indices_to_mask
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    RealNotInt,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils._repr_html.estimator import _VisualBlock
from sklearn.utils.metadata_routing import (
    _manual_routing,
    _raise_for_params,
    _raise_for_unsupported_routing,
    _routing_enabled,
    get_routing_for_object,
)
from sklearn.utils.metaestimators import _BaseComposition
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
    "_BaseComposition",
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
    "_safe_indexing",
    "_set_random_states",
    "get_routing_for_object",
    "indices_to_mask",
    "validate_parameter_constraints",
]
