"""The encoding cache: hits, misses, invalidation, concurrency, identical results."""

import os
import pathlib

import joblib
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline, make_pipeline

from skmm.compose import MultimodalEncoder
from skmm.encoders import PixelEncoder, TransformerTextEncoder
from skmm.exceptions import InvalidSampleError
from skmm.utils._encoding_cache import (
    EncodingCache,
    cell_key,
    clear_memory,
    encoder_key,
    resolve_cache,
    weights_fingerprint,
)
from skmm.utils._testing import make_test_images, make_tiny_text_model


@pytest.fixture(autouse=True)
def _fresh_memory():
    clear_memory()  # the in-process layer must not hide what the folder holds
    yield
    clear_memory()


@pytest.fixture
def count_pixels(monkeypatch):
    """Count the images PixelEncoder actually encodes (in this process)."""
    counter = {"n": 0}
    original = PixelEncoder._encode_batch

    def counting(self, items):
        counter["n"] += len(items)
        return original(self, items)

    monkeypatch.setattr(PixelEncoder, "_encode_batch", counting)
    return counter


def _table(n=24, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    images = [
        (rng.integers(0, 60, (8, 8)) + 190 * label * np.eye(8)).astype(np.uint8)
        for label in y
    ]
    words = np.array(["red", "blue"])
    texts = [f"a {words[label]} thing number {i}" for i, label in enumerate(y)]
    return pd.DataFrame({"text": texts, "image": images}), y


def _encoder(cache, size=(8, 8)):
    return MultimodalEncoder(
        [
            ("text", TfidfVectorizer(), "text"),
            ("image", PixelEncoder(size=size, mode="L"), "image"),
        ],
        cache=cache,
    )


def _entries(folder):
    return sorted(pathlib.Path(folder).rglob("*.npy"))


def test_hit_after_first_encoding_and_identical_output(tmp_path, count_pixels):
    X, _ = _table()
    plain = _encoder(None).fit_transform(X)
    n_plain = count_pixels["n"]
    first = _encoder(tmp_path).fit_transform(X)
    assert count_pixels["n"] == 2 * n_plain  # all misses
    clear_memory()  # second run as a new process would: from disk only
    second = _encoder(tmp_path).fit_transform(X)
    assert count_pixels["n"] == 2 * n_plain  # all hits
    pd.testing.assert_frame_equal(plain, first)
    pd.testing.assert_frame_equal(plain, second)
    assert len(_entries(tmp_path)) == 2 * len(X)  # text and image rows


def test_transform_encodes_only_unseen_cells(tmp_path, count_pixels):
    X, _ = _table(20)
    enc = _encoder(tmp_path).fit(X.iloc[:12])
    assert count_pixels["n"] == 12
    out = enc.transform(X)
    assert count_pixels["n"] == 12 + 8
    np.testing.assert_array_equal(
        out.to_numpy(), _encoder(None).fit(X.iloc[:12]).transform(X).to_numpy()
    )


def test_grid_search_encodes_each_sample_once(tmp_path, count_pixels):
    X, y = _table(30)
    grid = {"logisticregression__C": [0.1, 1.0, 10.0]}
    cv = KFold(3, shuffle=True, random_state=0)

    def search(cache):
        model = make_pipeline(_encoder(cache), LogisticRegression(max_iter=200))
        return GridSearchCV(model, grid, cv=cv).fit(X, y)

    plain = search(None)
    n_plain = count_pixels["n"]
    assert n_plain > 9 * len(X)  # every fold of every candidate re-encodes
    cached = search(tmp_path)
    assert count_pixels["n"] - n_plain == len(X)  # once per sample
    assert plain.best_params_ == cached.best_params_
    for key in ("mean_test_score", "std_test_score", "split0_test_score"):
        np.testing.assert_array_equal(plain.cv_results_[key], cached.cv_results_[key])


def test_changed_file_is_reencoded(tmp_path, count_pixels):
    paths, _ = make_test_images(tmp_path, 4, size=(8, 8))
    X = pd.DataFrame({"image": paths})
    cache = tmp_path / "cache"
    enc = MultimodalEncoder([("image", PixelEncoder(mode="L"), "image")], cache=cache)
    before = enc.fit_transform(X).to_numpy()
    # Same path, new content (and the same size and mtime: only bytes tell).
    stat = os.stat(paths[1])
    Image.fromarray(np.full((8, 8, 3), 7, dtype=np.uint8)).save(paths[1])
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    count_pixels["n"] = 0
    after = enc.transform(X).to_numpy()
    assert count_pixels["n"] == 1
    np.testing.assert_array_equal(after[[0, 2, 3]], before[[0, 2, 3]])
    assert not np.allclose(after[1], before[1])
    fresh = MultimodalEncoder([("image", PixelEncoder(mode="L"), "image")])
    np.testing.assert_array_equal(after, fresh.fit_transform(X).to_numpy())


def test_same_content_at_another_path_is_a_hit(tmp_path, count_pixels):
    paths, _ = make_test_images(tmp_path, 2, size=(8, 8))
    copy = tmp_path / "copy.png"
    copy.write_bytes(pathlib.Path(paths[0]).read_bytes())
    enc = PixelEncoder(mode="L").fit(paths)
    cache = EncodingCache(tmp_path / "cache")
    cache.transform(enc, paths)
    out = cache.transform(enc, [str(copy)])
    assert cache.stats == {"hits": 1, "misses": 2, "uncacheable": 0}
    np.testing.assert_array_equal(out[0], enc.transform(paths)[0])


def test_changed_parameter_or_array_is_reencoded(tmp_path, count_pixels):
    X, _ = _table(10)
    _encoder(tmp_path).fit_transform(X)
    count_pixels["n"] = 0
    small = _encoder(tmp_path, size=(4, 4)).fit_transform(X)
    assert count_pixels["n"] == len(X)
    assert small.filter(like="image__").shape[1] == 16
    X.at[3, "image"] = X.at[3, "image"].copy()
    X.at[3, "image"][0, 0] ^= 0xFF
    count_pixels["n"] = 0
    _encoder(tmp_path).fit_transform(X)
    assert count_pixels["n"] == 1


def test_execution_parameters_share_entries(tmp_path, count_pixels):
    X, _ = _table(10)
    enc = MultimodalEncoder(
        [("image", PixelEncoder(mode="L", batch_size=2), "image")], cache=tmp_path
    )
    enc.fit_transform(X)
    count_pixels["n"] = 0
    enc.set_params(image__batch_size=5, image__n_jobs=2, image__verbose=0)
    enc.fit_transform(X)
    assert count_pixels["n"] == 0


def test_changed_weights_are_reencoded(tmp_path):
    model = make_tiny_text_model(tmp_path / "model", random_state=0)
    texts = ["a good movie", "the plot was bad", "a great film"]
    cache = tmp_path / "cache"

    def encode():
        enc = MultimodalEncoder(
            [("text", TransformerTextEncoder(model, batch_size=2), "text")],
            cache=cache,
        )
        return enc.fit_transform({"text": texts}).to_numpy()

    before = encode()
    fingerprint = weights_fingerprint(TransformerTextEncoder(model).fit(texts))
    assert fingerprint is not None
    make_tiny_text_model(tmp_path / "model", random_state=1)  # same path
    clear_memory()
    after = encode()
    assert not np.allclose(before, after)
    fresh = TransformerTextEncoder(model, batch_size=2).fit_transform(texts)
    np.testing.assert_allclose(after, fresh, rtol=1e-6, atol=1e-6)
    assert weights_fingerprint(TransformerTextEncoder(model).fit(texts)) != fingerprint


def test_recorded_fingerprint_is_used():
    class Fitted:
        weights_sha256_ = "abc"

    assert weights_fingerprint(Fitted()) == "abc"


def test_fitted_state_is_part_of_the_key():
    a = TfidfVectorizer().fit(["red cat", "blue dog"])
    b = TfidfVectorizer().fit(["red cat", "blue bird"])
    assert encoder_key(a) != encoder_key(b)
    assert encoder_key(a) == encoder_key(TfidfVectorizer().fit(["red cat", "blue dog"]))


def test_cell_keys_are_content_keys(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"one")
    key = cell_key(str(path), files=True)
    assert key != cell_key(str(path))  # as text, the path string itself
    path.write_bytes(b"two")
    assert cell_key(str(path), files=True) != key
    assert cell_key(str(tmp_path / "absent.png"), files=True) is None
    assert cell_key(np.arange(3)) != cell_key(np.arange(3).reshape(3, 1))
    assert cell_key((np.zeros(4), 8000)) != cell_key((np.zeros(4), 16000))
    assert cell_key(object()) is None


def test_corrupt_entry_is_recomputed(tmp_path, count_pixels):
    X, _ = _table(6)
    expected = _encoder(tmp_path).fit_transform(X)
    for entry in _entries(tmp_path):
        entry.write_bytes(b"garbage")
    clear_memory()
    count_pixels["n"] = 0
    again = _encoder(tmp_path).fit_transform(X)
    assert count_pixels["n"] == len(X)
    pd.testing.assert_frame_equal(expected, again)


def test_bad_cell_is_named_by_table_row_with_cache(tmp_path):
    X, _ = _table(6)
    _encoder(tmp_path).fit(X)  # rows 0..5 cached
    X2 = pd.concat([X, X.iloc[:2]], ignore_index=True)
    X2.at[7, "image"] = np.zeros((2, 2, 2, 2), dtype=np.uint8)
    enc = _encoder(tmp_path).fit(X)
    with pytest.raises(InvalidSampleError, match="sample 7") as exc:
        enc.transform(X2)
    assert exc.value.column == "image"


def test_not_cached_all_nan_rows_and_missing_cells(tmp_path):
    X, _ = _table(6)
    X.at[2, "image"] = None
    out = _encoder(tmp_path).fit_transform(X)
    assert np.isnan(out.filter(like="image__").iloc[2]).all()
    assert len(_entries(tmp_path)) == 6 + 5


def test_unhashable_encoder_falls_back_with_a_warning(tmp_path):
    enc = TfidfVectorizer(preprocessor=lambda s: s.lower()).fit(["Red cat", "blue DOG"])
    cache = EncodingCache(tmp_path)
    with pytest.warns(UserWarning, match="cannot be cached"):
        out = cache.transform(enc, ["Red cat"])
    np.testing.assert_allclose(out, enc.transform(["Red cat"]).toarray(), rtol=1e-6)
    assert cache.stats["uncacheable"] == 1


def test_joblib_memory_and_bad_values():
    memory = joblib.Memory("/tmp/skmm-test-location", verbose=0)
    assert resolve_cache(memory).location == "/tmp/skmm-test-location"
    assert resolve_cache(joblib.Memory(None)) is None
    with pytest.raises(ValueError, match="cache must be"):
        resolve_cache(3)


def test_unwritable_folder_still_encodes(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    X, _ = _table(4)
    with pytest.warns(UserWarning, match="cannot write"):
        out = _encoder(blocker).fit_transform(X)
    pd.testing.assert_frame_equal(out, _encoder(None).fit_transform(X))


def test_pipeline_memory_with_multimodal_encoder(tmp_path, count_pixels):
    X, y = _table(12)
    memory = joblib.Memory(tmp_path, verbose=0)

    def pipe():
        return Pipeline(
            [("encode", _encoder(None)), ("clf", LogisticRegression())],
            memory=memory,
        )

    first = pipe().fit(X, y)
    n = count_pixels["n"]
    second = pipe().set_params(clf__C=0.5).fit(X, y)
    assert count_pixels["n"] == n  # encoder step loaded from joblib.Memory
    assert first.predict(X).tolist() == pipe().fit(X, y).predict(X).tolist()
    assert second.score(X, y) > 0.5


def _encode_in_worker(folder, X):
    return _encoder(folder).fit_transform(X).to_numpy()


def test_concurrent_writers_n_jobs_2(tmp_path):
    X, y = _table(30)
    expected = _encoder(None).fit_transform(X).to_numpy()
    # Two processes encode the same cells into the same folder at once.
    outs = joblib.Parallel(n_jobs=2, backend="loky")(
        joblib.delayed(_encode_in_worker)(tmp_path, X) for _ in range(4)
    )
    for out in outs:
        np.testing.assert_array_equal(out, expected)
    entries = _entries(tmp_path)
    assert len(entries) == 2 * len(X)
    for entry in entries:
        assert np.load(entry).dtype == np.float32
    assert not list(pathlib.Path(tmp_path).rglob(".tmp-*"))
    # And a grid search with n_jobs=2 gives the uncached results.
    grid = {"logisticregression__C": [0.1, 10.0]}

    def search(cache, n_jobs):
        model = make_pipeline(_encoder(cache), LogisticRegression(max_iter=200))
        return GridSearchCV(model, grid, cv=3, n_jobs=n_jobs).fit(X, y)

    plain, cached = search(None, 1), search(tmp_path / "grid", 2)
    np.testing.assert_array_equal(
        plain.cv_results_["mean_test_score"], cached.cv_results_["mean_test_score"]
    )


class CachedPixelEncoder(PixelEncoder):
    """An encoder with its own ``cache`` parameter (BaseRawEncoder's hook)."""

    def __init__(self, *, size=(32, 32), mode="RGB", batch_size=64, cache=None):
        super().__init__(size=size, mode=mode, batch_size=batch_size)
        self.cache = cache


def test_encoder_with_cache_parameter_uses_the_hook(tmp_path, count_pixels):
    X, _ = _table(8)
    images = [*list(X["image"]), None]
    enc = CachedPixelEncoder(mode="L", cache=tmp_path).fit(images)
    first = enc.transform(images)
    n = count_pixels["n"]
    second = enc.transform(images)
    assert count_pixels["n"] == n
    np.testing.assert_array_equal(first, second)
    assert np.isnan(second[-1]).all()
    np.testing.assert_array_equal(
        first, PixelEncoder(mode="L").fit(images).transform(images)
    )
