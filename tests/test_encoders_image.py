"""Tests of the image encoders (skmm.encoders._image, skmm.encoders._image_io)."""

import os
import pathlib
import pickle
import struct
import zlib

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmm.encoders import (
    ImageLoader,
    PixelEncoder,
    TorchvisionImageEncoder,
    TransformerImageEncoder,
    decode_image,
)
from skmm.exceptions import InvalidSampleError
from skmm.utils import infer_block_shape
from skmm.utils._testing import (
    make_test_images,
    make_tiny_clip,
    make_tiny_vit,
    make_torchvision_weights,
)

RNG = np.random.RandomState(0)
RGB = RNG.randint(0, 256, size=(12, 16, 3)).astype(np.uint8)


# -- fixtures ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """A folder of small image files of many kinds."""
    folder = tmp_path_factory.mktemp("images")
    files = {}

    files["rgb_png"] = str(folder / "rgb.png")
    Image.fromarray(RGB).save(files["rgb_png"])

    files["jpeg"] = str(folder / "photo.jpg")
    smooth = np.zeros((16, 16, 3), np.uint8)
    smooth[..., 0] = 200
    smooth[..., 1] = np.linspace(0, 255, 16).astype(np.uint8)[None, :]
    Image.fromarray(smooth).save(files["jpeg"], quality=95)

    files["grey16"] = str(folder / "grey16.png")
    grey16 = np.full((8, 8), 32768, np.uint16)
    grey16[0, 0] = 65535
    grey16[0, 1] = 0
    Image.fromarray(grey16).save(files["grey16"])

    files["rgba"] = str(folder / "rgba.png")
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[0, 0, 3] = 0  # transparent
    rgba[0, 1, 3] = 255  # opaque
    rgba[0, 2, 3] = 128  # half
    Image.fromarray(rgba).save(files["rgba"])

    files["palette"] = str(folder / "palette.png")
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    pal.putpixel((0, 0), 2)
    pal.putpixel((1, 0), 0)
    pal.save(files["palette"], transparency=0)

    files["grey"] = str(folder / "grey.png")
    Image.fromarray(np.full((5, 7), 77, np.uint8)).save(files["grey"])

    files["exif"] = str(folder / "rotated.jpg")
    wide = np.zeros((10, 20, 3), np.uint8)  # H=10, W=20
    wide[:4, :4] = (255, 0, 0)  # red block at the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was rotated: display rotated 90 deg clockwise
    Image.fromarray(wide).save(files["exif"], exif=exif, quality=95)

    files["truncated"] = str(folder / "truncated.jpg")
    big = RNG.randint(0, 256, size=(64, 64, 3)).astype(np.uint8)
    Image.fromarray(big).save(str(folder / "full.jpg"))
    data = (folder / "full.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])

    files["text"] = str(folder / "notes.png")
    (folder / "notes.png").write_text("this is not an image\n")

    files["bomb"] = str(folder / "bomb.png")
    (folder / "bomb.png").write_bytes(_png_header_only(60_000, 60_000))
    return files


def _png_header_only(width, height):
    """A tiny PNG that declares a huge size (a decompression bomb stand-in)."""

    def chunk(kind, payload):
        body = kind + payload
        return (
            struct.pack(">I", len(payload))
            + body
            + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def two_class_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two_class")
    return make_test_images(folder, 48, size=(24, 32), random_state=0)


@pytest.fixture
def resnet_weights(resnet18_weights):
    return resnet18_weights


def _decode(cell, **kwargs):
    return np.asarray(decode_image(cell, **kwargs))


# -- decoding ------------------------------------------------------------------------
def test_decode_png_exact_and_path_types(image_dir):
    np.testing.assert_array_equal(_decode(image_dir["rgb_png"]), RGB)
    np.testing.assert_array_equal(_decode(pathlib.Path(image_dir["rgb_png"])), RGB)
    np.testing.assert_array_equal(_decode(Image.open(image_dir["rgb_png"])), RGB)
    np.testing.assert_array_equal(_decode(RGB), RGB)


def test_decode_jpeg(image_dir):
    out = _decode(image_dir["jpeg"])
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert np.abs(out[..., 0].astype(int) - 200).max() <= 6
    assert out[0, -1, 1] > 200 and out[0, 0, 1] < 40


def test_decode_16bit_grey_rescaled_not_clipped(image_dir):
    out = _decode(image_dir["grey16"], mode="L")
    assert out[4, 4] == 128  # 32768 / 257
    assert out[0, 0] == 255 and out[0, 1] == 0
    rgb = _decode(image_dir["grey16"])
    assert rgb.shape == (8, 8, 3) and (rgb[4, 4] == 128).all()


def test_decode_16bit_and_float_arrays_via_pil():
    as_i = Image.fromarray(np.full((3, 3), 65535 // 2, np.int32))
    assert as_i.mode == "I"
    assert _decode(as_i, mode="L")[0, 0] == 127
    as_f = Image.fromarray(np.full((3, 3), 0.5, np.float32))
    assert as_f.mode == "F"
    assert _decode(as_f, mode="L")[0, 0] == 128
    ramp = Image.fromarray(np.array([[-1000, 0, 1000]], np.int32))
    np.testing.assert_array_equal(_decode(ramp, mode="L"), [[0, 128, 255]])


def test_decode_rgba_composited_over_white(image_dir):
    out = _decode(image_dir["rgba"])
    assert tuple(out[0, 0]) == (255, 255, 255)  # alpha = 0
    assert tuple(out[0, 1]) == (10, 20, 30)  # alpha = 255
    half = out[0, 2].astype(int)
    np.testing.assert_allclose(half, [132, 137, 142], atol=1)
    # the same through an array and with another background
    rgba = np.asarray(Image.open(image_dir["rgba"]))
    np.testing.assert_array_equal(_decode(rgba), out)
    black = _decode(rgba, background=(0, 0, 0))
    assert tuple(black[0, 0]) == (0, 0, 0)


def test_decode_palette_with_transparency(image_dir):
    assert Image.open(image_dir["palette"]).mode == "P"
    out = _decode(image_dir["palette"])
    assert tuple(out[0, 0]) == (0, 0, 255)
    assert tuple(out[1, 1]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)  # transparent palette entry


def test_decode_grey(image_dir):
    out = _decode(image_dir["grey"])
    assert out.shape == (5, 7, 3) and (out == 77).all()
    out = _decode(image_dir["grey"], mode="L")
    assert out.shape == (5, 7) and (out == 77).all()


def test_decode_exif_rotation(image_dir):
    raw = Image.open(image_dir["exif"])
    assert raw.size == (20, 10)
    out = _decode(image_dir["exif"])
    assert out.shape == (20, 10, 3)  # width and height swapped
    # rotated 90 degrees clockwise: the red top-left corner is now top-right
    assert out[1, -2, 0] > 200 and out[1, -2, 2] < 60
    assert out[1, 1, 0] < 60
    # a PIL image given by the user is rotated too, without being modified
    user = Image.open(image_dir["exif"])
    assert _decode(user).shape == (20, 10, 3)
    assert user.size == (20, 10)


def test_decode_resize_and_float_arrays():
    out = _decode(np.ones((4, 6, 1), np.float32), size=(2, 3), mode="RGB")
    assert out.shape == (2, 3, 3) and (out == 255).all()
    out = _decode(np.full((4, 4), 0.5), size=8, mode="L")
    assert out.shape == (8, 8) and (out == 128).all()


@pytest.mark.parametrize(
    "cell, match",
    [
        (np.zeros((2, 2, 5), np.uint8), r"shape HxW or HxWxC.*\(2, 2, 5\)"),
        (np.zeros((2, 2, 2), np.uint8), r"\(2, 2, 2\)"),
        (np.zeros(4, np.uint8), r"\(4,\)"),
        (np.zeros((0, 3), np.uint8), "empty"),
        (np.full((2, 2), np.nan), "NaN"),
        (np.full((2, 2, 3), 2.0), r"\[0, 1\]"),
        (np.zeros((2, 2), np.int16), "dtype int16"),
        (3, "expected an image path"),
        (b"bytes", "expected an image path"),
    ],
)
def test_decode_bad_arrays_and_cells(cell, match):
    with pytest.raises(InvalidSampleError, match=match):
        decode_image(cell)


# -- bad files through the encoders --------------------------------------------------
@pytest.mark.parametrize(
    "key, match",
    [
        ("truncated", "truncated"),
        ("text", "cannot identify"),
        ("bomb", "decompression bomb"),
    ],
)
@pytest.mark.parametrize("encoder", [ImageLoader(), PixelEncoder(size=4)])
def test_bad_file_names_file_and_index(image_dir, key, match, encoder):
    cells = [image_dir["rgb_png"], image_dir[key]]
    with pytest.raises(InvalidSampleError, match=match) as info:
        clone(encoder).fit(cells[:1]).transform(cells)
    assert info.value.index == 1
    assert info.value.source == image_dir[key]
    assert "sample 1" in str(info.value) and os.path.basename(image_dir[key]) in str(
        info.value
    )


def test_missing_file_and_directory(tmp_path, image_dir):
    missing = tmp_path / "nope.png"
    with pytest.raises(InvalidSampleError, match="not found") as info:
        ImageLoader().transform([image_dir["rgb_png"], None, missing])
    assert info.value.index == 2 and info.value.source == str(missing)
    with pytest.raises(InvalidSampleError, match="directory"):
        ImageLoader().transform([str(tmp_path)])


def test_max_pixels_limit(image_dir):
    with pytest.raises(InvalidSampleError, match="exceeds the limit of 100"):
        ImageLoader(max_pixels=100).transform([image_dir["rgb_png"]])
    with pytest.raises(InvalidSampleError, match="exceeds the limit"):
        ImageLoader(max_pixels=100).transform([RGB])
    assert ImageLoader(max_pixels=12 * 16).transform([RGB])[0].shape == (12, 16, 3)


def test_nan_array_names_sample():
    cells = [RGB, np.full((4, 4, 3), np.nan)]
    with pytest.raises(InvalidSampleError, match=r"sample 1.*NaN"):
        PixelEncoder(size=4).fit(cells[:1]).transform(cells)


# -- ImageLoader ---------------------------------------------------------------------
def test_image_loader_output(image_dir):
    cells = [image_dir["rgb_png"], None, np.nan, RGB, image_dir["exif"]]
    out = ImageLoader().fit_transform(cells)
    assert isinstance(out, list) and len(out) == 5
    assert out[1] is None and out[2] is None
    np.testing.assert_array_equal(out[0], RGB)
    assert out[4].shape == (20, 10, 3)
    out = ImageLoader(size=(3, 5), mode="L").transform(cells)
    assert all(o.shape == (3, 5) and o.dtype == np.uint8 for o in out if o is not None)


def test_image_loader_stateless_and_set_output(image_dir):
    loader = ImageLoader()
    assert loader.__sklearn_tags__().requires_fit is False
    assert loader.__sklearn_tags__().input_tags.two_d_array is False
    assert loader.set_output(transform="pandas") is loader
    pipe = make_pipeline(ImageLoader(size=4), PixelEncoder(size=2))
    pipe.set_output(transform="pandas")
    out = pipe.fit_transform([image_dir["rgb_png"], None])
    assert isinstance(out, pd.DataFrame) and out.shape == (2, 12)
    assert out.iloc[1].isna().all()


def test_image_loader_errors_missing(image_dir):
    cells = [image_dir["truncated"], image_dir["rgb_png"]]
    with pytest.warns(UserWarning, match="1 sample.*sample 0"):
        out = ImageLoader(errors="missing").transform(cells)
    assert out[0] is None and out[1].shape == (12, 16, 3)


def test_image_loader_n_jobs(two_class_images):
    paths, _ = two_class_images
    cells = [*paths[:10], None]
    one = ImageLoader(size=8).transform(cells)
    two = ImageLoader(size=8, n_jobs=2).transform(cells)
    assert all(
        (a is None and b is None) or np.array_equal(a, b) for a, b in zip(one, two)
    )


@pytest.mark.parametrize(
    "params, match",
    [
        ({"mode": "CMYK"}, "mode"),
        ({"size": 0}, "size"),
        ({"size": (2, 2, 2)}, "size"),
        ({"resample": "cubic"}, "resample"),
        ({"max_pixels": 0}, "max_pixels"),
        ({"errors": "ignore"}, "errors"),
    ],
)
def test_image_loader_invalid_params(params, match):
    with pytest.raises(ValueError, match=match):
        ImageLoader(**params).fit([RGB])


# -- PixelEncoder --------------------------------------------------------------------
def test_pixel_encoder_layout_and_names():
    enc = PixelEncoder(size=(12, 16)).fit([RGB])
    out = enc.transform([RGB, None])
    assert out.shape == (2, 3 * 12 * 16) and out.dtype == np.float32
    assert np.isnan(out[1]).all()
    names = enc.get_feature_names_out()
    assert infer_block_shape(["image__" + n for n in names]) == (3, 12, 16)
    chw = out[0].reshape(3, 12, 16)
    np.testing.assert_allclose(chw, RGB.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert names[1 * 12 * 16 + 5 * 16 + 7] == "pixel:1:5:7"
    assert out[0, 1 * 12 * 16 + 5 * 16 + 7] == np.float32(RGB[5, 7, 1] / 255.0)

    grey = PixelEncoder(size=4, mode="L").fit([RGB])
    assert infer_block_shape(grey.get_feature_names_out()) == (1, 4, 4)
    assert grey.transform([RGB]).shape == (1, 16)


def test_pixel_encoder_errors_missing(image_dir):
    cells = [image_dir["rgb_png"], image_dir["text"], None]
    enc = PixelEncoder(size=4, errors="missing").fit(cells)
    with pytest.warns(UserWarning, match="sample 1"):
        out = enc.transform(cells)
    assert np.isfinite(out[0]).all() and np.isnan(out[1:]).all()


def test_pixel_encoder_n_jobs_and_batches(two_class_images):
    paths, _ = two_class_images
    cells = [*paths[:9], None]
    ref = PixelEncoder(size=8).fit(cells).transform(cells)
    out = PixelEncoder(size=8, n_jobs=2, batch_size=4).fit(cells).transform(cells)
    np.testing.assert_array_equal(ref, out)


def test_pixel_encoder_sklearn_api(two_class_images):
    paths, _ = two_class_images
    enc = PixelEncoder(size=4)
    assert enc.get_params()["size"] == 4
    with pytest.raises(NotFittedError):
        enc.transform(paths[:2])
    with pytest.raises(NotFittedError):
        enc.get_feature_names_out()
    assert enc.fit(paths[:3]) is enc
    cloned = clone(enc).set_params(size=(2, 3), mode="L")
    assert cloned.fit(paths[:3]).transform(paths[:3]).shape == (3, 6)
    assert not hasattr(clone(enc), "n_features_out_")
    restored = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(restored.transform(paths), enc.transform(paths))
    with pytest.raises(ValueError, match="string object received"):
        enc.transform(paths[0])
    with pytest.raises(ValueError, match="empty"):
        clone(enc).fit([])
    with pytest.raises(ValueError, match="missing"):
        clone(enc).fit([None, None])


def test_pixel_encoder_learns_under_grid_search(two_class_images):
    paths, y = two_class_images
    pipe = make_pipeline(
        PixelEncoder(size=(8, 8)),
        StandardScaler(),
        LogisticRegression(C=0.1, max_iter=500),
    )
    search = GridSearchCV(
        pipe,
        {"pixelencoder__size": [(6, 8), (12, 16)]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    search.fit(paths, y)
    assert search.best_score_ >= 0.85  # chance is 0.5
    assert search.best_params_["pixelencoder__size"] in [(6, 8), (12, 16)]


# -- TorchvisionImageEncoder ---------------------------------------------------------
def _plain_torchvision(paths, weights_path, size):
    from torchvision.models import resnet18
    from torchvision.transforms import v2

    net = resnet18()
    net.load_state_dict(torch.load(weights_path, weights_only=True))
    net.fc = torch.nn.Identity()
    net.eval()
    transform = v2.Compose(
        [
            v2.Resize(size, antialias=True),
            v2.CenterCrop(size),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ]
    )
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    with torch.inference_mode():
        return net(batch).numpy()


def test_torchvision_matches_plain_forward(two_class_images, resnet_weights):
    paths, _ = two_class_images
    paths = paths[:5]
    enc = TorchvisionImageEncoder("resnet18", weights=resnet_weights, size=32)
    out = enc.fit([*paths, None]).transform([*paths, None])
    assert out.shape == (6, 512) and out.dtype == np.float32
    assert np.isnan(out[5]).all()
    ref = _plain_torchvision(paths, resnet_weights, 32)
    np.testing.assert_allclose(out[:5], ref, rtol=1e-4, atol=1e-5)
    assert enc.get_feature_names_out()[[0, -1]].tolist() == ["emb0", "emb511"]
    assert enc.weights_sha256_ and enc.init_seed_ is None
    enc._get_backbone()["net"].train()  # e.g. by a fine-tuning loop elsewhere
    np.testing.assert_allclose(enc.transform(paths), ref, rtol=1e-4, atol=1e-5)


def test_torchvision_pickle_is_small_and_identical(
    two_class_images, resnet_weights, tmp_path
):
    paths, _ = two_class_images
    enc = TorchvisionImageEncoder("resnet18", weights=resnet_weights, size=32)
    enc.fit(paths[:2])
    ref = enc.transform(paths[:4])
    blob = pickle.dumps(enc)
    assert len(blob) < 5_000  # a reference, not 45 MB of weights
    from skmm.utils._cache import clear_resource_cache

    clear_resource_cache()  # force a reload from the file
    restored = pickle.loads(blob)
    np.testing.assert_array_equal(restored.transform(paths[:4]), ref)

    # The weights file changed since fit: the reload refuses it.
    changed = make_torchvision_weights(
        tmp_path / "resnet18.pth", "resnet18", random_state=4
    )
    enc2 = TorchvisionImageEncoder("resnet18", weights=changed, size=32).fit(paths[:1])
    blob2 = pickle.dumps(enc2)
    make_torchvision_weights(changed, "resnet18", random_state=5)
    clear_resource_cache()
    with pytest.raises(ValueError, match="changed since the encoder was fitted"):
        pickle.loads(blob2).transform(paths[:1])


def test_torchvision_random_init_seeded(two_class_images):
    paths, _ = two_class_images
    rng_state = torch.get_rng_state()
    a = TorchvisionImageEncoder(
        "mobilenet_v3_small", size=32, random_state=0
    ).fit_transform(paths[:3])
    assert torch.equal(torch.get_rng_state(), rng_state)  # global RNG untouched
    from skmm.utils._cache import clear_resource_cache

    clear_resource_cache()
    enc = TorchvisionImageEncoder("mobilenet_v3_small", size=32, random_state=0).fit(
        paths[:3]
    )
    np.testing.assert_array_equal(enc.transform(paths[:3]), a)
    restored = pickle.loads(pickle.dumps(enc))
    clear_resource_cache()
    np.testing.assert_array_equal(restored.transform(paths[:3]), a)
    other = TorchvisionImageEncoder(
        "mobilenet_v3_small", size=32, random_state=1
    ).fit_transform(paths[:3])
    assert not np.allclose(a, other, rtol=1e-3, atol=0)


def test_torchvision_layer_headless_and_safetensors(two_class_images, tmp_path):
    paths, _ = two_class_images
    enc = TorchvisionImageEncoder(size=(32, 48), layer="layer3", random_state=0)
    assert enc.fit_transform(paths[:2]).shape == (2, 256)
    with pytest.raises(ValueError, match="not a node"):
        TorchvisionImageEncoder(size=32, layer="nope", random_state=0).fit(paths[:1])

    full = make_torchvision_weights(tmp_path / "w.safetensors", "resnet18")
    ref = TorchvisionImageEncoder(weights=full, size=32).fit_transform(paths[:2])
    from safetensors.torch import load_file, save_file

    state = {k: v for k, v in load_file(full).items() if not k.startswith("fc.")}
    headless = str(tmp_path / "headless.safetensors")
    save_file(state, headless)
    out = TorchvisionImageEncoder(weights=headless, size=32).fit_transform(paths[:2])
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)

    ten = make_torchvision_weights(tmp_path / "ten.pth", "resnet18", num_classes=10)
    out = TorchvisionImageEncoder(weights=ten, size=32).fit_transform(paths[:2])
    assert out.shape == (2, 512)


def test_torchvision_bad_weights(tmp_path, two_class_images):
    paths, _ = two_class_images
    with pytest.raises(ValueError, match=r"unknown weights 'NOPE'.*IMAGENET1K_V1"):
        TorchvisionImageEncoder(weights="NOPE", size=32).fit(paths[:1])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TorchvisionImageEncoder(weights=str(tmp_path / "x.pth")).fit(paths[:1])
    other = make_torchvision_weights(tmp_path / "m.pth", "mobilenet_v3_small")
    with pytest.raises(ValueError, match="does not match"):
        TorchvisionImageEncoder(weights=other, size=32).fit(paths[:1])
    with pytest.raises(ValueError, match="model"):
        TorchvisionImageEncoder(model=3).fit(paths[:1])


def test_torchvision_n_jobs_errors_and_clone(two_class_images, image_dir):
    paths, _ = two_class_images
    enc = TorchvisionImageEncoder(
        "mobilenet_v3_small", size=32, random_state=0, batch_size=2
    )
    cells = [*paths[:3], image_dir["truncated"], None]
    with pytest.raises(NotFittedError):
        enc.transform(cells)
    enc.set_params(errors="missing").fit(cells)
    with pytest.warns(UserWarning, match="sample 3"):
        out = enc.transform(cells)
    assert np.isfinite(out[:3]).all() and np.isnan(out[3:]).all()
    parallel = clone(enc).set_params(n_jobs=2).fit(cells)
    with pytest.warns(UserWarning):
        np.testing.assert_allclose(parallel.transform(cells), out, rtol=1e-6)
    assert clone(enc).get_params() == enc.get_params()


# -- TransformerImageEncoder ---------------------------------------------------------
def _manual_hf(path, images, which):
    from transformers import AutoImageProcessor, AutoModel

    processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    pixel_values = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        if which == "clip":
            vision = model.vision_model(pixel_values=pixel_values)
            return model.visual_projection(vision.pooler_output).numpy()
        out = model(pixel_values=pixel_values)
        if which == "clip_vision":
            return out.pooler_output.numpy()
        if which == "mean":
            return out.last_hidden_state.mean(dim=1).numpy()
        return out.last_hidden_state[:, 0].numpy()


def test_transformer_vit_matches_manual_forward(tiny_vit, two_class_images):
    paths, _ = two_class_images
    images = [Image.open(p).convert("RGB") for p in paths[:4]]
    enc = TransformerImageEncoder(tiny_vit)
    out = enc.fit([*paths[:4], None]).transform([*paths[:4], None])
    assert out.shape == (5, 16) and np.isnan(out[4]).all()
    np.testing.assert_allclose(
        out[:4], _manual_hf(tiny_vit, images, "cls"), rtol=1e-5, atol=1e-6
    )
    mean = TransformerImageEncoder(tiny_vit, pooling="mean").fit_transform(paths[:4])
    np.testing.assert_allclose(
        mean, _manual_hf(tiny_vit, images, "mean"), rtol=1e-5, atol=1e-6
    )
    normed = TransformerImageEncoder(tiny_vit, normalize=True).fit_transform(paths[:4])
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, rtol=1e-5)
    assert enc.get_feature_names_out().tolist() == [f"emb{i}" for i in range(16)]


@pytest.mark.parametrize("vision_only", [False, True])
def test_transformer_clip(tmp_path, two_class_images, vision_only):
    paths, _ = two_class_images
    path = make_tiny_clip(tmp_path / "clip", vision_only=vision_only)
    images = [Image.open(p).convert("RGB") for p in paths[:3]]
    out = TransformerImageEncoder(path).fit_transform(paths[:3])
    ref = _manual_hf(path, images, "clip_vision" if vision_only else "clip")
    assert out.shape == ((3, 16) if vision_only else (3, 8))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_transformer_pickle_and_api(tiny_vit, two_class_images, tmp_path):
    paths, _ = two_class_images
    enc = TransformerImageEncoder(tiny_vit, batch_size=2)
    with pytest.raises(NotFittedError):
        enc.transform(paths[:2])
    ref = enc.fit(paths[:3]).transform(paths[:5])
    blob = pickle.dumps(enc)
    assert len(blob) < 5_000
    from skmm.utils._cache import clear_resource_cache

    clear_resource_cache()
    np.testing.assert_array_equal(pickle.loads(blob).transform(paths[:5]), ref)
    parallel = clone(enc).set_params(n_jobs=2).fit(paths[:3])
    np.testing.assert_allclose(parallel.transform(paths[:5]), ref, rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        TransformerImageEncoder(str(tmp_path / "missing")).fit(paths[:1])
    with pytest.raises(OSError, match="not in the local Hugging Face cache"):
        TransformerImageEncoder("no-such-org/no-such-model").fit(paths[:1])
    with pytest.raises(ValueError, match="pooling"):
        TransformerImageEncoder(tiny_vit, pooling="sum").fit(paths[:1])


def test_transformer_model_changed_since_fit(tmp_path, two_class_images):
    from skmm.utils._cache import clear_resource_cache

    paths, _ = two_class_images
    path = make_tiny_vit(tmp_path / "vit")
    enc = TransformerImageEncoder(path).fit(paths[:1])
    assert len(enc.weights_sha256_) == 64
    blob = pickle.dumps(enc)
    make_tiny_vit(path, random_state=1)
    clear_resource_cache()
    with pytest.raises(ValueError, match="changed since the encoder was fitted"):
        pickle.loads(blob).transform(paths[:1])


def test_torchvision_weight_enum_resolution():
    # Resolving names never downloads: only get_model(weights=...) would.
    from torchvision.models import ResNet18_Weights

    enc = TorchvisionImageEncoder("resnet18", weights="DEFAULT")
    assert enc._weights_kind() == ("enum", "DEFAULT")
    expected = ResNet18_Weights.IMAGENET1K_V1
    assert enc._weight_enum("DEFAULT") is expected
    assert enc._weight_enum("IMAGENET1K_V1") is expected
    assert enc._weight_enum("ResNet18_Weights.IMAGENET1K_V1") is expected
    enc = TorchvisionImageEncoder("resnet18", weights=expected)
    assert enc._weights_kind() == ("enum", "ResNet18_Weights.IMAGENET1K_V1")
    with pytest.raises(ValueError, match="'weights' parameter"):
        TorchvisionImageEncoder(weights=3).fit([np.zeros((8, 8, 3), np.uint8)])


def test_verbose_progress_bar(two_class_images):
    paths, _ = two_class_images
    out = PixelEncoder(size=4, batch_size=2, verbose=1).fit(paths[:5])
    assert out.transform(paths[:5]).shape == (5, 48)
    assert len(ImageLoader(verbose=1).transform(paths[:3])) == 3
