"""End to end: raw text/image/audio table -> encoders -> fusion / ensembles."""

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmm.compose import MultimodalEncoder
from skmm.datasets import make_multimodal_digits
from skmm.encoders import (
    MelSpectrogramEncoder,
    MFCCEncoder,
    PixelEncoder,
    TokenSequenceEncoder,
)
from skmm.exceptions import InvalidSampleError
from skmm.fusion import FusionClassifier


@pytest.fixture(scope="module")
def digits():
    return make_multimodal_digits(n_samples=300, missing_rate=0.1, random_state=0)


def _features():
    return MultimodalEncoder(
        [
            ("text", TfidfVectorizer(ngram_range=(1, 2), min_df=2), "text"),
            ("image", PixelEncoder(size=(12, 12), mode="L"), "image"),
            ("audio", MFCCEncoder(sr=8000, n_mels=32, n_fft=512), "audio"),
        ]
    )


def test_grid_search_over_an_encoder_parameter(digits):
    X, y = digits
    pipe = make_pipeline(
        _features(),
        SimpleImputer(keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    search = GridSearchCV(
        pipe, {"multimodalencoder__audio__n_mfcc": [8, 16]}, cv=2
    ).fit(X, y)
    assert search.best_params_["multimodalencoder__audio__n_mfcc"] in (8, 16)
    assert search.best_score_ > 0.3  # best unimodal ceiling is 0.3


def test_raw_fusion_pipeline_learns_and_round_trips(digits, tmp_path):
    X, y = digits
    model = make_pipeline(
        MultimodalEncoder(
            [
                ("text", TokenSequenceEncoder(max_length=24), "text"),
                ("image", PixelEncoder(size=(16, 16), mode="L"), "image"),
                (
                    "audio",
                    MelSpectrogramEncoder(
                        sr=8000, n_mels=32, n_fft=512, hop_length=256, duration=1.0
                    ),
                    "audio",
                ),
            ]
        ),
        FusionClassifier(
            "early",
            branches={"text": "gru", "image": "cnn", "audio": "cnn"},
            hidden_size=32,
            modality_dropout=0.1,
            max_epochs=25,
            batch_size=32,
            lr=3e-3,
            random_state=0,
        ),
    ).fit(X[:220], y[:220])
    assert model[-1].block_shapes_["image"] == (1, 16, 16)
    assert model[-1].block_shapes_["audio"][1] == 32
    # all three partial clues together: clearly above the best single modality
    # (0.3; chance is 0.1). With 220 training rows the seeded score varies with
    # the machine's floating-point kernels (0.50-0.65 seen), hence the margin.
    assert model.score(X[220:], y[220:]) > 0.4
    joblib.dump(model, tmp_path / "m.joblib")
    restored = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(
        restored.predict_proba(X[220:]), model.predict_proba(X[220:])
    )
    # a single sample with a missing modality still predicts
    one = X.iloc[[0]].copy()
    one["audio"] = None
    assert model.predict(one).shape == (1,)


def test_bad_cell_in_raw_table_names_column_and_sample(digits):
    X, y = digits
    bad = X.iloc[:20].copy()
    bad.at[bad.index[7], "image"] = "/no/such/file.png"
    expected = r"column 'image', sample 7 .*file\.png"
    with pytest.raises(InvalidSampleError, match=expected):
        _features().fit(bad, y[:20])
