"""Image corruptions: Pillow (and NumPy for additive noise), never pixel loops.

Every function takes a decoded PIL image (mode ``"L"`` or ``"RGB"``, from
:func:`skmm.encoders.decode_image`), a severity in (0, 1] and a NumPy
``Generator`` and returns a PIL image of the same mode and size. Severity 0 never
reaches them (it is the identity, handled by the caller).

Severity scales (documented in the user guide):

========================  ======================================================
corruption                severity ``s`` maps to
========================  ======================================================
``gaussian_noise``        additive Gaussian noise of standard deviation
                          ``0.4 s`` of the intensity range (``102 s`` grey levels)
``blur``                  Gaussian blur of standard deviation ``0.1 s`` of the
                          shorter side (3.2 px on a 32 px image at ``s=1``)
``occlusion``             one square patch of a random colour covering a
                          fraction ``0.5 s`` of the image area, at a random place
``jpeg``                  JPEG re-encoding at quality ``round(90 - 85 s)``
``contrast``              contrast scaled by ``1 - 0.9 s`` toward the mean grey
``brightness``            brightness scaled by ``1 - 0.8 s`` (darker) or
                          ``1 + 0.8 s`` (brighter), direction at random
``rotation``              rotation by ``30 s`` degrees, direction at random, the
                          uncovered corners filled with the mean colour
========================  ======================================================
"""

import io

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageStat

__all__ = ["IMAGE_CORRUPTIONS"]


def gaussian_noise(image, severity, rng):
    sigma = 0.4 * severity * 255.0
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + rng.standard_normal(pixels.shape, dtype=np.float32) * sigma
    np.clip(noisy, 0.0, 255.0, out=noisy)
    return Image.fromarray(np.rint(noisy).astype(np.uint8), mode=image.mode)


def blur(image, severity, rng):
    radius = 0.1 * severity * min(image.size)
    return image.filter(ImageFilter.GaussianBlur(radius=radius))


def occlusion(image, severity, rng):
    width, height = image.size
    side_w = round(np.sqrt(0.5 * severity) * width)
    side_h = round(np.sqrt(0.5 * severity) * height)
    if side_w < 1 or side_h < 1:
        return image.copy()
    left = int(rng.integers(0, width - side_w + 1))
    top = int(rng.integers(0, height - side_h + 1))
    colour = tuple(int(c) for c in rng.integers(0, 256, size=len(image.getbands())))
    out = image.copy()
    ImageDraw.Draw(out).rectangle(
        [left, top, left + side_w - 1, top + side_h - 1],
        fill=colour if len(colour) > 1 else colour[0],
    )
    return out


def jpeg(image, severity, rng):
    quality = round(90 - 85 * severity)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer, formats=["JPEG"]) as out:
        out.load()
        return out.convert(image.mode) if out.mode != image.mode else out.copy()


def contrast(image, severity, rng):
    return ImageEnhance.Contrast(image).enhance(1.0 - 0.9 * severity)


def brightness(image, severity, rng):
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return ImageEnhance.Brightness(image).enhance(1.0 + sign * 0.8 * severity)


def rotation(image, severity, rng):
    sign = 1.0 if rng.random() < 0.5 else -1.0
    mean = ImageStat.Stat(image).mean
    fill = tuple(round(m) for m in mean) if len(mean) > 1 else round(mean[0])
    return image.rotate(
        sign * 30.0 * severity, resample=Image.Resampling.BILINEAR, fillcolor=fill
    )


#: Image corruptions by name.
IMAGE_CORRUPTIONS = {
    "gaussian_noise": gaussian_noise,
    "blur": blur,
    "occlusion": occlusion,
    "jpeg": jpeg,
    "contrast": contrast,
    "brightness": brightness,
    "rotation": rotation,
}
