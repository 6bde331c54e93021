"""The private scikit-learn names skmm relies on, imported in one place.

Parameter validation (``_fit_context``, ``Interval``, ``StrOptions``...), a few
helpers of the ensembles and ``MultimodalEncoder``'s composition base need names
that scikit-learn does not export publicly. Every such import lives in this
module (and nowhere else in skmm), so that a scikit-learn release that moves
one of them breaks one module, where a per-version fallback is added.

Supported: scikit-learn 1.6 to 1.9 (both ends tested in CI). Names that moved
within that range are imported from their newest location first, with the
older one as the fallback.

The ensembles extend scikit-learn's Bagging, AdaBoost and Stacking through
their hooks (``_validate_estimator``, ``_make_estimator``, ``_set_oob_score``,
``_validate_estimators``, ``_concatenate_predictions``, ``_check_X``) and call
the parents for everything else; the only private parent method they *call*
is ``BaseBagging._get_estimators_indices`` (the columns each member was
drawn).
"""

from sklearn.base import _fit_context
from sklearn.ensemble._base import (
    _BaseHeterogeneousEnsemble,
    _fit_single_estimator,
    _set_random_states,
)
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    RealNotInt,
    StrOptions,
)
from sklearn.utils.metadata_routing import _raise_for_params as _sk_raise_for_params
from sklearn.utils.metadata_routing import _routing_enabled
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import (
    _check_feature_names_in,
    _check_method_params,
    _check_sample_weight,
    _check_y,
)

try:  # scikit-learn >= 1.7
    from sklearn.utils._repr_html.estimator import _VisualBlock
except ImportError:  # scikit-learn 1.6
    from sklearn.utils._estimator_html_repr import _VisualBlock


def _raise_for_params(params, owner, method, allow=None):
    """scikit-learn's check that metadata is only passed with routing enabled.

    ``allow`` (parameters accepted without routing, e.g. ``sample_weight``)
    exists from scikit-learn 1.7 on; here it works with 1.6 as well.
    """
    allow = set(allow or ())
    _sk_raise_for_params(
        {k: v for k, v in params.items() if k not in allow}, owner, method
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
    "_fit_context",
    "_fit_single_estimator",
    "_raise_for_params",
    "_routing_enabled",
    "_safe_indexing",
    "_set_random_states",
]
