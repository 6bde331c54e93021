"""Retrieval metrics and scorers (skmm.metrics)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_score

from skmm.alignment import CCAAligner
from skmm.metrics import (
    make_retrieval_scorer,
    mean_reciprocal_rank,
    median_rank,
    recall_at_k,
    retrieval_ranks,
)


def test_ranks_by_identity_and_label():
    S = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.1], [0.0, 0.3, 0.4]])
    assert retrieval_ranks(S).tolist() == [1, 2, 1]
    ranks = retrieval_ranks(S, query_labels=[0, 0, 1], candidate_labels=[1, 0, 0])
    # query 0: relevant candidates 1 (0.1) and 2 (0.5); candidate 0 is ahead
    assert ranks.tolist() == [2, 2, 3]
    assert recall_at_k(S, 1) == pytest.approx(2 / 3)
    assert recall_at_k(S, 3) == 1.0
    assert mean_reciprocal_rank(S) == pytest.approx((1 + 0.5 + 1) / 3)
    assert median_rank(S) == 1.0


def test_ties_count_against_the_query_and_unretrievable_candidates():
    constant = np.zeros((4, 4))
    assert retrieval_ranks(constant).tolist() == [4, 4, 4, 4]
    assert recall_at_k(constant, 1) == 0.0
    S = np.array([[-np.inf, 0.2], [0.3, -np.inf]])
    assert retrieval_ranks(S).tolist() == [np.inf, np.inf]
    assert mean_reciprocal_rank(S) == 0.0


def test_random_scores_give_chance_level():
    rng = np.random.RandomState(0)
    labels = np.arange(2000) % 10
    S = rng.rand(2000, 2000)
    assert recall_at_k(S, 1, query_labels=labels, candidate_labels=labels) == (
        pytest.approx(0.1, abs=0.02)
    )


def test_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        retrieval_ranks(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="both query_labels"):
        retrieval_ranks(np.eye(2), query_labels=[0, 1])
    with pytest.raises(ValueError, match="candidate for every query"):
        retrieval_ranks(np.ones((3, 2)))
    with pytest.raises(ValueError, match="one label per row"):
        retrieval_ranks(np.eye(2), query_labels=[0], candidate_labels=[0, 1])
    with pytest.raises(ValueError, match="k must be a positive int"):
        recall_at_k(np.eye(2), 0)
    with pytest.raises(ValueError, match="Unknown retrieval metric"):
        make_retrieval_scorer("ndcg")


def test_scorer_in_cross_validation_with_and_without_labels():
    rng = np.random.RandomState(0)
    z = rng.randn(120, 6)
    X = pd.DataFrame(
        np.hstack([z @ rng.randn(6, 8), z @ rng.randn(6, 7)])
        + 0.1 * rng.randn(120, 15),
        columns=[f"a__{i}" for i in range(8)] + [f"b__{i}" for i in range(7)],
    )
    y = (z[:, 0] > 0).astype(int)
    scorer = make_retrieval_scorer("recall_at_k", k=1, query_modality="a")
    by_identity = cross_val_score(CCAAligner(6), X, scoring=scorer, cv=3)
    by_label = cross_val_score(CCAAligner(6), X, y, scoring=scorer, cv=3)
    assert (by_identity > 0.5).all()  # chance is 1/40
    assert (by_label > 0.8).all()
    median = make_retrieval_scorer("median_rank", match="identity")
    assert median(CCAAligner(6).fit(X), X, y) == -1.0
