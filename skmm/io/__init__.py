"""Safe model files: parameters as data, tensors as safetensors, no code on load."""

from skmm.io._api import dump, dumps, get_untrusted_types, load, loads

__all__ = ["dump", "dumps", "get_untrusted_types", "load", "loads"]
