"""Image decoding shared by every image encoder.

:func:`decode_image` turns one image cell -- a file path, a PIL image or an
``HxW`` / ``HxWxC`` array -- into a PIL image in mode ``"L"`` or ``"RGB"``:

* files are opened with Pillow restricted to :data:`IMAGE_FORMATS` and fully
  decoded (``load()``: a truncated file raises, ``verify()`` would not);
* images larger than ``max_pixels`` are refused before their pixels are decoded
  (decompression bombs);
* the EXIF orientation of camera photos is applied;
* alpha is composited over a background colour (not dropped), palettes are
  expanded, 16-bit and 32-bit greyscale are rescaled to 8 bits (not clipped);
* a cell that cannot be used raises :class:`~skmm.exceptions.InvalidSampleError`
  naming the file (the encoders add the sample index).
"""

import numbers
import os

import numpy as np
from PIL import Image, ImageOps

from skmm.encoders._base import bad_cell
from skmm.exceptions import InvalidSampleError
from skmm.utils._contract import open_regular_file

__all__ = ["IMAGE_FORMATS", "decode_image", "decode_image_array"]

#: Formats :func:`decode_image` accepts for image files (Pillow format names).
#: Camera JPEGs with a multi-picture index (MPO) open as JPEG.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
_MODES = ("L", "RGB")
_EXPECTED = "an image path, a PIL image or an HxW / HxWxC array (C in 1, 3, 4)"
_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ORIENTATION = 0x0112


def check_image_params(mode, size, resample, max_pixels, *, size_required=False):
    """Validate the decoding parameters shared by the image encoders.

    Returns ``size`` as a ``(height, width)`` tuple (or None).
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be 'RGB' or 'L'; got {mode!r}.")
    if resample not in _RESAMPLE:
        raise ValueError(
            f"resample must be one of {sorted(_RESAMPLE)}; got {resample!r}."
        )
    if max_pixels is not None and (
        not isinstance(max_pixels, numbers.Integral)
        or isinstance(max_pixels, bool)
        or max_pixels < 1
    ):
        raise ValueError(
            f"max_pixels must be a positive int or None; got {max_pixels!r}."
        )
    if size is None and not size_required:
        return None
    return _as_hw(size)


def _as_hw(size):
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (size, size)
    if (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
            for s in size
        )
    ):
        return int(size[0]), int(size[1])
    raise ValueError(
        f"size must be a positive int or a (height, width) pair of positive ints; "
        f"got {size!r}."
    )


def decode_image(
    cell,
    *,
    mode="RGB",
    size=None,
    resample="bilinear",
    max_pixels=None,
    background=(255, 255, 255),
):
    """Decode one image cell into a normalised PIL image.

    Parameters
    ----------
    cell : str, os.PathLike, PIL.Image.Image or ndarray
        A path to an image file (one of :data:`IMAGE_FORMATS`), a PIL image, or
        an ``HxW`` / ``HxWxC`` array (``C`` in 1, 3, 4) of dtype uint8 (0..255)
        or float (0..1). A 4-channel array is RGBA.
    mode : {"RGB", "L"}, default="RGB"
        Output mode: colour or greyscale (ITU-R 601-2 luma).
    size : int or tuple of (height, width), default=None
        Resize to this size (an int means a square), ignoring the aspect ratio.
        None keeps the decoded size.
    resample : {"bilinear", "bicubic", "lanczos", "nearest", "box", "hamming"}, \
            default="bilinear"
        Resampling filter used by the resize.
    max_pixels : int, default=None
        Largest accepted image (width x height); larger images are refused as
        potential decompression bombs before their pixels are decoded. None uses
        Pillow's ``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 Mpx). Pillow's own check
        still applies when a file is opened: to accept files above twice that
        global limit, raise ``PIL.Image.MAX_IMAGE_PIXELS`` too.
    background : tuple of 3 int, default=(255, 255, 255)
        Colour that transparent pixels are composited over.

    Returns
    -------
    image : PIL.Image.Image
        A loaded image in mode ``mode``, upright (EXIF orientation applied).

    Raises
    ------
    InvalidSampleError
        If the file is missing, unreadable, truncated, of another format, too
        large; or if the array has a wrong shape, dtype or non-finite values.

    Notes
    -----
    Mode normalisation: palette images are expanded (with their transparency);
    alpha (``RGBA``, ``LA``, ``PA``, transparent palette entries) is composited
    over ``background``; 16-bit greyscale (``I;16``) is divided by 257; 32-bit
    integer greyscale (``I``) with values in 0..65535 is read as 16-bit, other
    ranges are rescaled linearly from the image's minimum..maximum; float
    greyscale (``F``) within [0, 1] is multiplied by 255, other ranges are
    rescaled from minimum..maximum. ``CMYK``, ``YCbCr``, ``LAB`` and ``HSV`` are
    converted to RGB.

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders import decode_image
    >>> rgba = np.zeros((2, 3, 4), dtype=np.uint8)  # fully transparent
    >>> image = decode_image(rgba, size=(4, 4))
    >>> image.mode, image.size, image.getpixel((0, 0))
    ('RGB', (4, 4), (255, 255, 255))
    >>> decode_image(np.full((2, 2), np.nan))
    Traceback (most recent call last):
    ...
    skmm.exceptions.InvalidSampleError: image array contains NaN or infinite values, ...
    """
    if isinstance(cell, (str, os.PathLike)):
        source = os.fspath(cell)
        image = _open_file(source, max_pixels)
    elif isinstance(cell, Image.Image):
        source = None
        image = _from_pil(cell, max_pixels)
    elif isinstance(cell, np.ndarray):
        source = None
        image = _from_array(cell, max_pixels)
    else:
        raise bad_cell(f"expected {_EXPECTED}", cell)
    image = _normalise_mode(image, mode, tuple(background), source)
    if size is not None:
        height, width = _as_hw(size)
        if image.size != (width, height):
            image = image.resize((width, height), resample=_RESAMPLE[resample])
    return image


def decode_image_array(cell, **kwargs):
    """:func:`decode_image` returning a uint8 array (``HxW`` or ``HxWx3``).

    Examples
    --------
    >>> import numpy as np
    >>> from skmm.encoders._image_io import decode_image_array
    >>> decode_image_array(np.ones((2, 2, 1)), mode="RGB").shape
    (2, 2, 3)
    """
    return np.asarray(decode_image(cell, **kwargs))


# -- sources ---------------------------------------------------------------------
def _limit(max_pixels):
    return Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels


def _check_pixels(width, height, max_pixels, source):
    limit = _limit(max_pixels)
    if limit is not None and width * height > limit:
        raise InvalidSampleError(
            f"image of {width}x{height} = {width * height} pixels exceeds the limit "
            f"of {limit} pixels (possible decompression bomb; raise max_pixels to "
            "accept it)",
            source=source,
        )


def _formats():
    Image.init()
    return [f for f in IMAGE_FORMATS if f in Image.OPEN]


def _open_file(path, max_pixels):
    # Refuse FIFOs, devices and directories before Pillow touches the path: a
    # FIFO would block the decoder forever.
    fd = open_regular_file(path, what="image file")
    try:
        with os.fdopen(fd, "rb") as fp, Image.open(fp, formats=_formats()) as image:
            _check_pixels(*image.size, max_pixels, path)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return image
    except InvalidSampleError:
        raise
    except Image.UnidentifiedImageError:
        raise InvalidSampleError(
            "cannot identify an image file (accepted formats: "
            f"{', '.join(_formats())})",
            source=path,
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidSampleError(
            f"refused as a possible decompression bomb: {exc}", source=path
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # Pillow plugins raise many types on corrupt data
        raise InvalidSampleError(
            f"cannot decode image ({type(exc).__name__}: {exc})", source=path
        ) from None


def _from_pil(image, max_pixels):
    _check_pixels(*image.size, max_pixels, None)
    try:
        image.load()
        orientation = image.getexif().get(_ORIENTATION, 1)
    except MemoryError:
        raise
    except Exception as exc:
        raise InvalidSampleError(
            f"cannot decode PIL image ({type(exc).__name__}: {exc})"
        ) from None
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        image = ImageOps.exif_transpose(image)
    return image


def _from_array(array, max_pixels):
    shape = array.shape
    if not (array.ndim == 2 or (array.ndim == 3 and shape[2] in (1, 3, 4))):
        raise InvalidSampleError(
            f"image array must have shape HxW or HxWxC with C in 1, 3, 4; got shape "
            f"{shape}"
        )
    if shape[0] == 0 or shape[1] == 0:
        raise InvalidSampleError(f"image array is empty (shape {shape})")
    _check_pixels(shape[1], shape[0], max_pixels, None)
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise InvalidSampleError(
                f"image array contains NaN or infinite values, got {array.dtype} "
                f"array of shape {shape}"
            )
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise InvalidSampleError(
                f"float image array must hold values in [0, 1]; got values in "
                f"[{low:g}, {high:g}]"
            )
        pixels = np.rint(array * 255.0).astype(np.uint8)
    else:
        raise InvalidSampleError(
            f"image array must be uint8 (0..255) or float (0..1); got dtype "
            f"{array.dtype} (convert with .astype(np.uint8) if it holds 0..255)"
        )
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(pixels))


# -- mode normalisation -------------------------------------------------------------
def _normalise_mode(image, mode, background, source):
    current = image.mode
    if current == "1":
        image = image.convert("L")
    elif current in ("P", "PA"):
        has_alpha = current == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif current in _HIGH_DEPTH:
        image = _rescale_high_depth(image, source)
    elif current == "RGBa":
        image = image.convert("RGBA")
    elif current in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        image = image.convert("RGB")
    if image.mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode == "LA":
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        backdrop = Image.new("RGBA", image.size, (*background, 255))
        image = Image.alpha_composite(backdrop, image).convert("RGB")
    if image.mode not in _MODES:
        raise InvalidSampleError(
            f"unsupported image mode {image.mode!r}", source=source
        )
    if image.mode != mode:
        image = image.convert(mode)
    return image


def _rescale_high_depth(image, source):
    values = np.asarray(image)
    current = image.mode
    if current.startswith("I;16"):
        scaled = values.astype(np.float32) / 257.0
    elif current == "I" and values.min() >= 0 and values.max() <= 65535:
        scaled = values.astype(np.float32) / 257.0
    else:
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            raise InvalidSampleError(
                "floating-point image contains NaN or infinite values", source=source
            )
        low, high = values.min(), values.max()
        if current == "F" and low >= 0.0 and high <= 1.0:
            scaled = values * 255.0
        elif high > low:
            scaled = (values - low) * (255.0 / (high - low))
        else:
            scaled = np.zeros_like(values)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))
