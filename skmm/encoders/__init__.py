"""One-modality encoders: raw text, images and audio as sklearn transformers."""

# Each modality module adds its public names here.
from skmm.encoders._audio import (
    AudioLoader,
    MelSpectrogramEncoder,
    MFCCEncoder,
    TransformerAudioEncoder,
    load_audio,
)
from skmm.encoders._image import (
    ImageLoader,
    PixelEncoder,
    TorchvisionImageEncoder,
    TransformerImageEncoder,
)
from skmm.encoders._image_io import decode_image
from skmm.encoders._text import TokenSequenceEncoder, TransformerTextEncoder

__all__ = [
    "AudioLoader",
    "ImageLoader",
    "MFCCEncoder",
    "MelSpectrogramEncoder",
    "PixelEncoder",
    "TokenSequenceEncoder",
    "TorchvisionImageEncoder",
    "TransformerAudioEncoder",
    "TransformerImageEncoder",
    "TransformerTextEncoder",
    "decode_image",
    "load_audio",
]
