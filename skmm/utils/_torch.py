"""Torch helpers shared by encoders and fusion networks: device, threads, seeds."""

import contextlib
import os

__all__ = ["hf_progress", "masked_mean", "resolve_device", "torch_threads"]


def resolve_device(device):
    """Resolve a ``device`` parameter to a torch device string.

    ``None`` or ``"auto"`` pick ``"cuda"`` when available, else ``"cpu"``. A CUDA
    device asked for on a machine without one is an error, not a silent fallback.

    Examples
    --------
    >>> from skmm.utils._torch import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    """
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this "
            "machine; use device='cpu' or device='auto'."
        )
    return device


def _default_threads():
    env = os.environ.get("SKMM_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return None


@contextlib.contextmanager
def torch_threads(n_threads=None):
    """Temporarily set ``torch.set_num_threads``.

    ``None`` keeps torch's own setting unless ``SKMM_NUM_THREADS`` (or
    ``OMP_NUM_THREADS``) is set. Inside joblib workers torch already follows the
    worker's thread cap; this context keeps nested parallelism deliberate.

    Examples
    --------
    >>> import torch
    >>> from skmm.utils._torch import torch_threads
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    """
    import torch

    if n_threads is None:
        n_threads = _default_threads()
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def masked_mean(tokens, valid):
    """Mean of ``tokens`` (n, T, d) over the positions where ``valid`` (n, T).

    The one masked mean of skmm: transformer pooling in the encoders and
    sequence pooling in fusion branches. Rows without a valid position give 0.

    Examples
    --------
    >>> import torch
    >>> from skmm.utils._torch import masked_mean
    >>> tokens = torch.tensor([[[1.0], [3.0], [9.0]]])
    >>> masked_mean(tokens, torch.tensor([[True, True, False]])).tolist()
    [[2.0]]
    """
    weight = valid.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weight).sum(1) / weight.sum(1).clamp_min(1.0)


@contextlib.contextmanager
def hf_progress(verbose):
    """Silence transformers' and huggingface_hub's progress bars unless ``verbose``.

    The one switch used by every skmm code path that loads or saves a Hugging
    Face model, so that fitting an encoder prints nothing by default.

    Examples
    --------
    >>> from skmm.utils._torch import hf_progress
    >>> with hf_progress(verbose=0):
    ...     pass
    """
    from transformers.utils import logging as hf_logging

    if verbose or not hf_logging.is_progress_bar_enabled():
        yield
        return
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()
