"""Session fixtures: tiny random models, built offline once per test session.

Nothing is built at collection time: a test that needs a model asks for one of
these fixtures, and the model is saved to a session temporary directory the
first time. See :mod:`skmm.utils._testing` for the builders.
"""

import pytest

from skmm.utils import _testing


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory):
    """A tiny random BERT + WordPiece tokenizer directory (hidden size 16)."""
    return _testing.make_tiny_text_model(tmp_path_factory.mktemp("tiny_text_model"))


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory):
    """A tiny random ViT + image processor directory (hidden size 16)."""
    return _testing.make_tiny_vit(tmp_path_factory.mktemp("tiny_vit"))


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory):
    """A tiny random wav2vec2 (group norm, no attention mask) directory."""
    return _testing.make_tiny_wav2vec2(tmp_path_factory.mktemp("tiny_w2v"))


@pytest.fixture(scope="session")
def tiny_wav2vec2_mask(tmp_path_factory):
    """A tiny random wav2vec2 whose feature extractor returns attention masks."""
    return _testing.make_tiny_wav2vec2(
        tmp_path_factory.mktemp("tiny_w2v_mask"), attention_mask=True
    )


@pytest.fixture(scope="session")
def resnet18_weights(tmp_path_factory):
    """A seeded random resnet18 state_dict saved with ``torch.save``."""
    folder = tmp_path_factory.mktemp("tv_weights")
    return _testing.make_torchvision_weights(
        folder / "resnet18.pth", "resnet18", random_state=3
    )
