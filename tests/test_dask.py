"""Running skmm on a Dask cluster through joblib's Dask backend (the ``dask`` extra).

A small ``distributed.LocalCluster`` (2 worker processes, 1 thread each) stands in
for any Dask deployment: the code under test is plain sklearn + joblib, with no
skmm-specific cluster code.
"""

import logging
import os
import pickle

import numpy as np
import pandas as pd
import pytest
from joblib import parallel_backend
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmm.datasets import make_multimodal_classification
from skmm.ensemble import ModalityBaggingClassifier
from skmm.fusion import FusionClassifier

distributed = pytest.importorskip("distributed")
dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes (``dask worker --nthreads 1``).

    Two, because joblib runs the tasks in the calling process when the cluster
    offers a single thread (``effective_n_jobs() == 1``).

    Process workers, not threads: torch's random generator is global to a
    process, so seeded networks trained concurrently by threads of one process
    would not be reproducible.
    """
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def _data(n=80):
    return make_multimodal_classification(
        n_samples=n, n_classes=3, random_state=0, missing_rate=0.1
    )


def _fusion(**params):
    settings = {"max_epochs": 3, "hidden_size": 8, "batch_size": 32, "random_state": 0}
    return FusionClassifier(**{**settings, **params})


def test_grid_search_on_dask_equals_local(client):
    X, y = _data()
    model = make_pipeline(StandardScaler().set_output(transform="pandas"), _fusion())
    grid = {
        "fusionclassifier__fusion": ["early", "gated"],
    }
    cv = KFold(2, shuffle=True, random_state=0)
    local = GridSearchCV(model, grid, cv=cv, n_jobs=1).fit(X, y)
    with distributed.get_task_stream(client) as tasks, parallel_backend("dask"):
        remote = GridSearchCV(model, grid, cv=cv, n_jobs=-1).fit(X, y)
    assert len(tasks.data) >= 4  # the fits ran on the workers
    assert remote.best_params_ == local.best_params_
    for key in ("split0_test_score", "split1_test_score", "mean_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_bagging_fit_on_dask_equals_local(client):
    X, y = _data()
    bagging = ModalityBaggingClassifier(
        _fusion(), n_estimators=3, n_jobs=2, random_state=0
    )
    local = clone(bagging).set_params(n_jobs=1).fit(X, y)
    with distributed.get_task_stream(client) as tasks, parallel_backend("dask"):
        remote = clone(bagging).fit(X, y)
    assert len(tasks.data) >= 2
    assert remote.estimators_modalities_ == local.estimators_modalities_
    np.testing.assert_allclose(
        remote.predict_proba(X), local.predict_proba(X), rtol=1e-6, atol=1e-7
    )


def _torch_threads():
    import torch

    return torch.get_num_threads(), os.getpid()


def test_workers_limit_threads_and_reload_encoders(client, tmp_path):
    """Torch threads capped in workers; encoders shipped by reference."""
    from joblib import Parallel, delayed

    from skmm.encoders import TransformerTextEncoder
    from skmm.utils._testing import make_tiny_text_model

    per_worker = client.run(_torch_threads)
    assert {threads for threads, _ in per_worker.values()} == {1}
    with parallel_backend("dask"):
        inside = Parallel(n_jobs=2)(delayed(_torch_threads)() for _ in range(2))
    assert {threads for threads, _ in inside} == {1}
    assert os.getpid() not in {pid for _, pid in inside}  # ran remotely

    model = make_tiny_text_model(tmp_path / "model")
    texts = ["a good movie", "the plot was bad", None, "a great film"]
    encoder = TransformerTextEncoder(model).fit(texts)
    weights = sum(
        p.numel() * p.element_size() for p in encoder._backbone.model.parameters()
    )
    payload = len(pickle.dumps(encoder))
    assert payload < weights / 4  # a path and a few attributes, not the tensors
    remote = client.submit(encoder.transform, texts).result()
    np.testing.assert_allclose(remote, encoder.transform(texts), rtol=1e-5, atol=1e-6)


def _encode_partition(part, encoder):
    """Encode one partition of raw cells (a pandas DataFrame) with a fitted encoder."""
    out = encoder.transform(part)
    out.index = part.index
    return out


def test_recipe_encode_partitions_to_parquet_then_train(client, tmp_path):
    """The docs' recipe: fit on a sample, encode partition by partition, train."""
    from sklearn.feature_extraction.text import HashingVectorizer

    from skmm.compose import MultimodalEncoder

    rng = np.random.default_rng(0)
    n = 200
    y = rng.integers(0, 2, n)
    words = np.array(["cold", "warm"])
    table = pd.DataFrame(
        {
            "text": [
                f"it feels {words[label]} today number {i}" for i, label in enumerate(y)
            ],
            "size": rng.normal(size=n) + y,
            "label": y,
        }
    )
    ddf = dd.from_pandas(table, npartitions=4)
    encoder = MultimodalEncoder(
        [
            ("text", HashingVectorizer(n_features=16, alternate_sign=False), "text"),
            ("size", "passthrough", "size"),
        ]
    )
    sample = ddf.head(50)  # fit on a sample that fits in memory
    meta = encoder.fit(sample).transform(sample.iloc[:1]).iloc[:0]
    encoded = ddf.map_partitions(_encode_partition, encoder, meta=meta)
    encoded = encoded.assign(label=ddf["label"])
    encoded.to_parquet(tmp_path / "encoded", write_index=True)

    train = pd.read_parquet(tmp_path / "encoded")
    assert len(train) == n
    X_enc, y_enc = train.drop(columns="label"), train["label"].to_numpy()
    np.testing.assert_array_equal(
        X_enc.to_numpy(), encoder.transform(table).loc[X_enc.index].to_numpy()
    )
    clf = _fusion(max_epochs=30, lr=1e-2).fit(X_enc, y_enc)
    assert clf.score(X_enc, y_enc) > 0.8
