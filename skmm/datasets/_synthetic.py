"""Numeric multimodal blocks from a shared latent, for tests and benchmarks."""

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state

from skmm.utils._sklearn_compat import Interval, validate_params

__all__ = ["make_multimodal_classification"]

_DEFAULT_MODALITIES = {"text": 16, "image": 16, "audio": 16}


@validate_params(
    {
        "n_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_classes": [Interval(numbers.Integral, 2, None, closed="left")],
        "modalities": [dict, Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_informative": [Interval(numbers.Integral, 1, None, closed="left")],
        "noise": [Interval(numbers.Real, 0, None, closed="left")],
        "interaction": ["boolean"],
        "missing_rate": [Interval(numbers.Real, 0, 1, closed="left")],
        "as_frame": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_multimodal_classification(
    n_samples=300,
    n_classes=2,
    *,
    modalities=None,
    n_informative=2,
    noise=0.5,
    interaction=False,
    missing_rate=0.0,
    as_frame=True,
    random_state=None,
):
    """Generate a multimodal classification problem with numeric modality blocks.

    Every modality ``m`` has its own latent factors ``u_m`` (``n_informative``
    standard normal dimensions per sample), observed through a random linear map
    into ``n_features_m`` columns plus Gaussian noise. The class is the argmax of a
    random linear score of the latents:

    * ``interaction=False`` (additive): ``score = sum_m u_m W_m``. Each modality
      explains only its share of the score, so a single modality is ambiguous and
      every model improves by combining them.
    * ``interaction=True`` (multiplicative): ``score = sum_{m<m'} (u_m * u_m') V``,
      elementwise products of *pairs* of modalities' latents. No modality carries
      information on its own (a product of independent zero-mean factors is
      uncorrelated with each of them): only models that combine modalities
      multiplicatively (tensor, bilinear, gated, attention fusion) recover it
      easily; a linear model on the concatenation stays near chance.

    Parameters
    ----------
    n_samples : int, default=300
        Number of samples.
    n_classes : int, default=2
        Number of classes (labels ``0 .. n_classes - 1``).
    modalities : dict of str to int, int or None, default=None
        Modality name -> number of features. An int ``M`` names ``M`` modalities
        ``"m0", "m1", ...`` with 16 features each. ``None`` means
        ``{"text": 16, "image": 16, "audio": 16}`` (numeric stand-ins).
    n_informative : int, default=2
        Latent dimensions per modality (at most each modality's width).
    noise : float, default=0.5
        Standard deviation of the observation noise relative to the signal.
    interaction : bool, default=False
        Whether the label depends on multiplicative cross-modal interactions.
    missing_rate : float, default=0.0
        Probability that a modality is missing for a sample (its whole block is
        NaN), independently per sample and modality; at least one modality is
        always kept.
    as_frame : bool, default=True
        Return ``X`` as a DataFrame with columns ``"{modality}__f{j}"`` (the skmm
        naming contract). Otherwise a float ndarray; then pass the layout to
        estimators through their ``modalities`` parameter.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : DataFrame or ndarray of shape (n_samples, n_features)
        The modality blocks side by side (NaN where a modality is missing).
    y : ndarray of shape (n_samples,)
        The class labels, ``0 .. n_classes - 1``.

    See Also
    --------
    make_multimodal_digits : Raw text, image and audio data for the demo.

    Examples
    --------
    >>> from skmm.datasets import make_multimodal_classification
    >>> X, y = make_multimodal_classification(n_samples=50, random_state=0)
    >>> X.shape, y.tolist()[:4]
    ((50, 48), [1, 1, 1, 1])
    >>> list(X.columns[:2])
    ['text__f0', 'text__f1']
    >>> X, y = make_multimodal_classification(50, missing_rate=0.3, random_state=0)
    >>> bool(X.isna().any(axis=None))
    True
    """
    modalities = _check_modalities(modalities)
    if interaction and len(modalities) < 2:
        raise ValueError("interaction=True needs at least two modalities.")
    widest = min(modalities.values())
    if not 1 <= n_informative <= widest:
        raise ValueError(
            f"n_informative must be between 1 and the narrowest modality's width "
            f"({widest}); got {n_informative!r}."
        )
    rng = check_random_state(random_state)
    names = list(modalities)
    latents = {m: rng.standard_normal((n_samples, n_informative)) for m in names}

    if interaction:
        pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
        score = sum(
            (latents[a] * latents[b]) @ rng.standard_normal((n_informative, n_classes))
            for a, b in pairs
        )
    else:
        score = sum(
            latents[m] @ rng.standard_normal((n_informative, n_classes)) for m in names
        )
    y = np.argmax(score, axis=1)

    blocks, columns = [], []
    for m in names:
        width = modalities[m]
        mixing = rng.standard_normal((n_informative, width)) / np.sqrt(n_informative)
        block = latents[m] @ mixing + noise * rng.standard_normal((n_samples, width))
        blocks.append(block)
        columns.extend(f"{m}__f{j}" for j in range(width))
    if missing_rate > 0:
        missing = rng.random_sample((n_samples, len(names))) < missing_rate
        everything = missing.all(axis=1)
        keep = rng.randint(len(names), size=n_samples)
        missing[everything, keep[everything]] = False
        for k, block in enumerate(blocks):
            block[missing[:, k]] = np.nan
    X = np.hstack(blocks)
    if as_frame:
        X = pd.DataFrame(X, columns=columns)
    return X, y


def _check_modalities(modalities):
    if modalities is None:
        return dict(_DEFAULT_MODALITIES)
    if isinstance(modalities, numbers.Integral):
        return {f"m{k}": 16 for k in range(modalities)}
    if not modalities:
        raise ValueError("modalities must not be an empty dict.")
    for name, width in modalities.items():
        if not isinstance(name, str) or "__" in name or not name:
            raise ValueError(
                f"Modality names must be non-empty strings without '__'; got {name!r}."
            )
        if not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(
                f"Modality {name!r} needs a positive width; got {width!r}."
            )
    return dict(modalities)
