"""Test utilities: tiny random models built offline, and small raw inputs.

Nothing here downloads anything: models are built from small configs with random
weights and saved to a local directory, so that tests, doctests and examples run
offline in milliseconds.
"""

__all__ = [
    "make_test_images",
    "make_test_tones",
    "make_test_wavs",
    "make_text_samples",
    "make_tiny_clip",
    "make_tiny_text_model",
    "make_tiny_vit",
    "make_tiny_wav2vec2",
    "make_torchvision_weights",
]

# ---- text (skmm.encoders text encoders) -------------------------------------

#: Words of the tiny WordPiece vocabulary; make_text_samples only uses these.
_TEXT_POSITIVE = tuple("good great love fun nice best".split())
_TEXT_NEGATIVE = tuple("bad awful hate boring poor worst".split())
_TEXT_NEUTRAL = tuple(
    "the a movie film plot cast story was is it this and very really so i we they "
    "of to".split()
)
_TEXT_VOCAB = (
    *"[PAD] [UNK] [CLS] [SEP] [MASK]".split(),
    *_TEXT_NEUTRAL,
    *_TEXT_POSITIVE,
    *_TEXT_NEGATIVE,
    *"not cat dog sat on mat . , ! ? ##s ##ed ##ing ##ly".split(),
)


def make_tiny_text_model(path, *, random_state=0):
    """Save a tiny random BERT encoder and its WordPiece tokenizer to ``path``.

    The model (hidden size 16, 2 layers, 2 heads, a vocabulary of about 60
    English words and word pieces) is built from a config with seeded random
    weights: nothing is downloaded, and it loads with
    ``AutoModel``/``AutoTokenizer.from_pretrained(path)`` in milliseconds.

    Parameters
    ----------
    path : str or path-like
        Directory to write to (created if needed).
    random_state : int, default=0
        Seed of the random weights (the global torch RNG is left untouched).

    Returns
    -------
    path : str
        ``path``, for chaining.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmm.utils._testing import make_tiny_text_model
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = make_tiny_text_model(tmp)
    ...     sorted(n for n in os.listdir(path) if n in ("config.json", "vocab.txt"))
    ['config.json', 'vocab.txt']
    """
    import os

    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    from skmm.utils._torch import hf_progress

    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    vocab_file = os.path.join(path, "vocab.txt")
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("\n".join(_TEXT_VOCAB) + "\n")
    tokenizer = BertTokenizer(vocab_file, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(_TEXT_VOCAB),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        model = BertModel(config)
    model.eval()
    with hf_progress(verbose=0):
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def make_text_samples(n_samples=40, *, random_state=0, missing_rate=0.0):
    """Short labelled English texts (sentiment-like), offline and seeded.

    Each text mixes filler words with one to three words of its class (positive
    or negative), all from the vocabulary of :func:`make_tiny_text_model`.

    Parameters
    ----------
    n_samples : int, default=40
    random_state : int, default=0
    missing_rate : float, default=0.0
        Fraction of texts replaced by ``None`` (missing); labels are kept.

    Returns
    -------
    texts : list of str or None
    y : ndarray of shape (n_samples,), dtype=int
        1 for positive texts, 0 for negative ones (balanced).

    Examples
    --------
    >>> from skmm.utils._testing import make_text_samples
    >>> texts, y = make_text_samples(4, random_state=0)
    >>> len(texts), y.tolist()
    (4, [1, 0, 1, 0])
    """
    import numpy as np

    rng = np.random.default_rng(random_state)
    y = np.arange(n_samples) % 2
    y = 1 - y
    texts = []
    for label in y:
        lexicon = _TEXT_POSITIVE if label else _TEXT_NEGATIVE
        n_filler = int(rng.integers(2, 9))
        words = list(rng.choice(_TEXT_NEUTRAL, size=n_filler))
        for word in rng.choice(lexicon, size=int(rng.integers(1, 4))):
            words.insert(int(rng.integers(0, len(words) + 1)), word)
        texts.append(" ".join(str(w) for w in words))
    if missing_rate:
        for i in np.flatnonzero(rng.random(n_samples) < missing_rate):
            texts[i] = None
    return texts, y.astype(int)


# ---- image (skmm.encoders image encoders) -----------------------------------


def make_tiny_vit(path, *, image_size=32, random_state=0):
    """Save a tiny random ViT model and its image processor to ``path``.

    Patch size 8, hidden size 16, 2 layers, 2 heads, seeded random weights; a
    ``ViTImageProcessor`` resizing to ``image_size`` is saved alongside, so that
    ``AutoModel`` / ``AutoImageProcessor`` load it offline.

    Parameters
    ----------
    path : str or path
        Directory to write (created if needed).
    image_size : int, default=32
    random_state : int, default=0

    Returns
    -------
    path : str

    Examples
    --------
    >>> import os, tempfile
    >>> from skmm.utils._testing import make_tiny_vit
    >>> path = make_tiny_vit(tempfile.mkdtemp())
    >>> sorted(os.listdir(path))
    ['config.json', 'model.safetensors', 'preprocessor_config.json']
    """
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    config = ViTConfig(
        image_size=image_size,
        patch_size=8,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        model = ViTModel(config)
    model.save_pretrained(path)
    ViTImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(
        path
    )
    return str(path)


def make_tiny_clip(path, *, vision_only=False, image_size=32, random_state=0):
    """Save a tiny random CLIP model (or its vision tower) and image processor.

    Vision and text towers of hidden size 16, 1 layer, 2 heads, projection
    dimension 8, seeded random weights, and a ``CLIPImageProcessor`` resizing
    and centre-cropping to ``image_size``.

    Parameters
    ----------
    path : str or path
        Directory to write (created if needed).
    vision_only : bool, default=False
        Save a ``CLIPVisionModel`` instead of a full ``CLIPModel``.
    image_size : int, default=32
    random_state : int, default=0

    Returns
    -------
    path : str

    Examples
    --------
    >>> import json, os, tempfile
    >>> from skmm.utils._testing import make_tiny_clip
    >>> path = make_tiny_clip(tempfile.mkdtemp())
    >>> json.load(open(os.path.join(path, "config.json")))["model_type"]
    'clip'
    """
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPVisionConfig,
        CLIPVisionModel,
    )

    vision = {
        "image_size": image_size,
        "patch_size": 8,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    }
    text = {
        "vocab_size": 64,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 16,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        if vision_only:
            model = CLIPVisionModel(CLIPVisionConfig(**vision))
        else:
            model = CLIPModel(
                CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)
            )
    model.save_pretrained(path)
    CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
    ).save_pretrained(path)
    return str(path)


def make_torchvision_weights(path, model="resnet18", *, random_state=0, **kwargs):
    """Save a seeded random state_dict of a torchvision model to ``path``.

    The format follows the suffix: ``.safetensors`` or ``torch.save`` otherwise.

    Parameters
    ----------
    path : str or path
        File to write.
    model : str, default="resnet18"
        torchvision model name.
    random_state : int, default=0
    **kwargs
        Passed to ``torchvision.models.get_model`` (e.g. ``num_classes``).

    Returns
    -------
    path : str

    Examples
    --------
    >>> import os, tempfile
    >>> from skmm.utils._testing import make_torchvision_weights
    >>> path = os.path.join(tempfile.mkdtemp(), "w.pth")
    >>> os.path.basename(make_torchvision_weights(path, "mobilenet_v3_small"))
    'w.pth'
    """
    import torch
    from torchvision.models import get_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        net = get_model(model, weights=None, **kwargs)
    # Random BatchNorm statistics, so that eval-mode outputs depend on them too.
    generator = torch.Generator().manual_seed(random_state)
    state = net.state_dict()
    for name, tensor in state.items():
        if name.endswith("running_mean"):
            tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))
        elif name.endswith("running_var"):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
    path = str(path)
    if path.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, path)
    else:
        torch.save(state, path)
    return path


def make_test_images(
    folder, n_images=8, *, size=(24, 32), format="png", random_state=0
):
    """Write synthetic two-class images to ``folder``.

    Every image is a noisy, randomly tinted background with a bright square;
    the square lies in the left half for class 0 and in the right half for
    class 1 (classes alternate), at a random position.

    Parameters
    ----------
    folder : str or path
        Existing directory to write into.
    n_images : int, default=8
    size : tuple of (height, width), default=(24, 32)
    format : {"png", "jpeg", "bmp"}, default="png"
    random_state : int, default=0

    Returns
    -------
    paths : list of str
    y : ndarray of shape (n_images,), dtype=int

    Examples
    --------
    >>> import tempfile
    >>> from skmm.utils._testing import make_test_images
    >>> paths, y = make_test_images(tempfile.mkdtemp(), 4)
    >>> [p[-9:] for p in paths], y.tolist()
    (['img_0.png', 'img_1.png', 'img_2.png', 'img_3.png'], [0, 1, 0, 1])
    """
    import os

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(random_state)
    height, width = size
    side = max(2, min(height, width // 2) // 2)
    y = np.arange(n_images) % 2
    paths = []
    suffix = {"jpeg": "jpg"}.get(format, format)
    for i, label in enumerate(y):
        tint = rng.integers(0, 120, size=3)
        image = rng.integers(0, 60, size=(height, width, 3)) + tint
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width // 2 - side + 1)) + label * (width // 2)
        image[top : top + side, left : left + side] = 255
        path = os.path.join(os.fspath(folder), f"img_{i}.{suffix}")
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths, y.astype(int)


# ---- audio (skmm.encoders audio encoders) -----------------------------------


def make_tiny_wav2vec2(path, *, attention_mask=False, random_state=0):
    """Save a tiny random wav2vec2 model and its feature extractor to ``path``.

    Hidden size 16, 2 layers, 2 heads, a two-layer conv front end (kernels 10 and
    3, strides 5 and 2: one frame per 10 samples, at least 16 samples), seeded
    random weights; it loads with ``AutoModel`` / ``AutoFeatureExtractor`` in
    milliseconds and nothing is downloaded.

    Parameters
    ----------
    path : str or path-like
        Directory to write to (created if needed).
    attention_mask : bool, default=False
        False: a group-norm front end whose feature extractor returns no
        attention mask (like wav2vec2-base). True: a layer-norm front end whose
        feature extractor returns one (like wav2vec2-large-lv60).
    random_state : int, default=0
        Seed of the random weights (the global torch RNG is left untouched).

    Returns
    -------
    path : str
        ``path``, for chaining.

    Examples
    --------
    >>> import os, tempfile
    >>> from skmm.utils._testing import make_tiny_wav2vec2
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = make_tiny_wav2vec2(tmp)
    ...     "preprocessor_config.json" in os.listdir(path)
    True
    """
    import os

    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model
    from transformers.utils import logging as hf_logging

    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    config = Wav2Vec2Config(
        vocab_size=8,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer" if attention_mask else "group",
        do_stable_layer_norm=bool(attention_mask),
    )
    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=bool(attention_mask),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(random_state)
        model = Wav2Vec2Model(config)
    model.eval()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        extractor.save_pretrained(path)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return path


def make_test_tones(
    n_samples=20,
    *,
    sr=16000,
    duration=(0.25, 0.5),
    noise=0.05,
    random_state=0,
):
    """Two classes of noisy tones: low (200-400 Hz) vs high (2-3 kHz).

    Every clip is a sine of random frequency in its class's band, random
    amplitude (0.2-0.6), random phase and random length, plus Gaussian noise.

    Parameters
    ----------
    n_samples : int, default=20
    sr : int, default=16000
        Sample rate of the returned waveforms.
    duration : float or (float, float), default=(0.25, 0.5)
        Clip length in seconds, fixed or drawn uniformly from a range.
    noise : float, default=0.05
        Standard deviation of the added noise.
    random_state : int, default=0

    Returns
    -------
    waveforms : list of ndarray of shape (n_i,), dtype float32
    y : ndarray of shape (n_samples,), dtype=int
        0 for low tones, 1 for high tones (alternating, balanced).

    Examples
    --------
    >>> from skmm.utils._testing import make_test_tones
    >>> waves, y = make_test_tones(4, sr=8000, duration=0.5)
    >>> [w.shape for w in waves], y.tolist()
    ([(4000,), (4000,), (4000,), (4000,)], [0, 1, 0, 1])
    """
    import numpy as np

    rng = np.random.default_rng(random_state)
    low, high = np.broadcast_to(np.asarray(duration, dtype=float), (2,))
    y = np.arange(n_samples) % 2
    waveforms = []
    for label in y:
        n = max(1, round(rng.uniform(low, high) * sr))
        band = (2000.0, 3000.0) if label else (200.0, 400.0)
        freq = min(rng.uniform(*band), 0.45 * sr)
        t = np.arange(n) / sr
        wave = rng.uniform(0.2, 0.6) * np.sin(
            2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
        )
        wave += noise * rng.standard_normal(n)
        waveforms.append(wave.astype(np.float32))
    return waveforms, y.astype(int)


def make_test_wavs(folder, n_samples=20, *, sr=16000, channels=1, **kwargs):
    """Write :func:`make_test_tones` clips as 16-bit WAV files in ``folder``.

    Parameters
    ----------
    folder : str or path-like
        Created if needed.
    n_samples : int, default=20
    sr : int, default=16000
        Sample rate of the files.
    channels : int, default=1
        Number of (identical) channels written.
    **kwargs
        Passed to :func:`make_test_tones` (``duration``, ``noise``,
        ``random_state``).

    Returns
    -------
    paths : list of str
    y : ndarray of shape (n_samples,), dtype=int

    Examples
    --------
    >>> import tempfile
    >>> import soundfile
    >>> from skmm.utils._testing import make_test_wavs
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths, y = make_test_wavs(tmp, 2, sr=8000, channels=2, duration=0.1)
    ...     soundfile.info(paths[0]).channels, soundfile.info(paths[0]).samplerate
    (2, 8000)
    """
    import os

    import numpy as np
    import soundfile

    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    waveforms, y = make_test_tones(n_samples, sr=sr, **kwargs)
    paths = []
    for k, wave in enumerate(waveforms):
        path = os.path.join(folder, f"tone_{k:04d}.wav")
        data = np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave
        soundfile.write(path, data, sr, subtype="PCM_16")
        paths.append(path)
    return paths, y
