"""Data-contract helpers, estimator discovery and conformance checks."""

from skmm.utils._contract import (
    as_table,
    check_raw_column,
    describe_cell,
    get_column,
    is_missing,
    missing_mask,
    resolve_table_modalities,
    table_columns,
    table_presence,
)
from skmm.utils._layout import (
    DEFAULT_MODALITY,
    grid_feature_names,
    infer_block_shape,
    modality_presence,
    resolve_modalities,
)

__all__ = [
    "DEFAULT_MODALITY",
    "as_table",
    "check_raw_column",
    "describe_cell",
    "get_column",
    "grid_feature_names",
    "infer_block_shape",
    "is_missing",
    "missing_mask",
    "modality_presence",
    "resolve_modalities",
    "resolve_table_modalities",
    "table_columns",
    "table_presence",
]
