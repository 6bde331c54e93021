"""Composition of modality encoders into one multimodal feature matrix."""

from skmm.compose._multimodal_encoder import MultimodalEncoder

__all__ = ["MultimodalEncoder"]
