"""Fine-tuning pretrained backbones inside fusion networks (skmm.fusion._pretrained).

Every test uses tiny random models built offline (skmm.utils._testing).
"""

import io
import os
import pickle
import warnings
from unittest.mock import patch

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from skorch.callbacks import GradientNormClipping, ProgressBar

from skmm.compose import MultimodalEncoder
from skmm.encoders import PixelEncoder, TokenSequenceEncoder
from skmm.fusion import (
    FusionClassifier,
    FusionRegressor,
    PretrainedBranch,
    WarmupLR,
    make_pretrained_pair,
)
from skmm.fusion._pretrained import PretrainedBackbone, network_param_groups
from skmm.utils._cache import clear_resource_cache
from skmm.utils._testing import (
    make_test_tones,
    make_text_samples,
    make_tiny_text_model,
    make_tiny_vit,
    make_tiny_wav2vec2,
    make_torchvision_weights,
)

MODES = ["none", "last_n", "all", "lora"]
KINDS = ["text", "image", "audio", "torchvision"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "text": make_tiny_text_model(root / "bert"),
        "image": make_tiny_vit(str(root / "vit"), image_size=16),
        "audio": make_tiny_wav2vec2(root / "w2v", attention_mask=True),
        "torchvision": make_torchvision_weights(
            str(root / "mnv3.pth"), "mobilenet_v3_small"
        ),
    }


def _spec(models, kind, **params):
    if kind == "torchvision":
        return PretrainedBranch(
            "mobilenet_v3_small", kind=kind, weights=models[kind], **params
        )
    return PretrainedBranch(models[kind], kind=kind, **params)


def _block(models, kind, n=6, seed=0):
    """A (X, input_shape) block like the matching encoder emits."""
    rng = np.random.default_rng(seed)
    if kind == "text":
        texts, _ = make_text_samples(n, random_state=seed)
        enc = TokenSequenceEncoder(tokenizer=models["text"], max_length=10)
        return torch.from_numpy(enc.fit_transform(texts)), (10,)
    if kind == "audio":
        waves, _ = make_test_tones(n, sr=16000, duration=0.05, random_state=seed)
        X = np.zeros((n, 800), np.float32)
        for i, w in enumerate(waves):
            X[i, : min(800, len(w) - 40 * i)] = w[: min(800, len(w) - 40 * i)]
        return torch.from_numpy(X), None
    return torch.from_numpy(rng.random((n, 3 * 16 * 16), dtype=np.float32)), (3, 16, 16)


def _vector(out):
    if isinstance(out, tuple):
        tokens, valid = out
        w = valid.unsqueeze(-1).float()
        return (tokens * w).sum(1) / w.sum(1)
    return out


def _train_steps(module, X, steps=2, lr=1e-2):
    groups = network_param_groups(module, lr)
    optimizer = torch.optim.SGD(groups, lr=lr) if groups else None
    module.train()
    torch.manual_seed(0)
    target = torch.randn(X.shape[0], module.output_size)
    for _ in range(steps):
        out = _vector(module(X))
        loss = ((out - target) ** 2).mean()
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return groups


# -- trainable modes -----------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_trainable_modes_train_the_right_parameters_and_pickle(models, kind, mode):
    X, shape = _block(models, kind)
    module = _spec(models, kind, trainable=mode, n_trainable_layers=1).build(
        X.shape[1], shape
    )
    state = [*module.model.named_parameters(), *module.model.named_buffers()]
    before = {k: v.detach().clone() for k, v in state}
    trainable = {n for n, p in module.model.named_parameters() if p.requires_grad}
    _train_steps(module, X)
    changed = {
        n
        for n, p in module.model.named_parameters()
        if not torch.equal(p.detach(), before[n])
    }
    grads = {n for n, p in module.model.named_parameters() if p.grad is not None}
    # gradients reach the backbone only where asked, and only those train
    assert grads <= trainable
    assert changed <= trainable
    names = [n for n, _ in module.model.named_parameters()]
    if mode == "none":
        assert trainable == set()
        assert not module.model.training  # frozen backbone stays in eval mode
    elif mode == "all":
        assert trainable == set(names)
        assert len(changed) > 0.5 * len(names)
    elif mode == "lora":
        assert trainable and all("lora_" in n for n in trainable)
        # B starts at zero: after two steps both A and B have moved
        assert any("lora_B" in n for n in changed)
        assert any("lora_A" in n for n in changed)
    else:  # last_n: only the top layer and what follows it
        layers = [name for name, _ in module._layers()]
        top = layers[-1] + "."
        assert any(n.startswith(top) for n in changed)
        lower = tuple(f"{lay}." for lay in layers[:-1])
        below = [n for n in names if n.startswith(lower)]
        assert below and not (set(below) & trainable)
        assert trainable and len(trainable) < len(names)
    # frozen buffers (e.g. BatchNorm statistics) keep their values bit for bit
    for name, value in module.model.named_buffers():
        owner = module.model.get_submodule(name.rpartition(".")[0])
        if not any(p.requires_grad for p in owner.parameters(recurse=False)):
            assert torch.equal(value, before[name]), name
    # a pickle round trip keeps the fine-tuned weights: identical outputs
    module.eval()
    expected = _vector(module(X))
    blob = pickle.dumps(module)
    loaded = pickle.loads(blob)
    loaded.eval()
    torch.testing.assert_close(_vector(loaded(X)), expected, rtol=0, atol=0)
    assert trainable == {
        n for n, p in loaded.model.named_parameters() if p.requires_grad
    }
    if mode in ("none", "last_n", "lora"):
        # frozen pretrained weights stay a reference: they are not pickled
        n_frozen = sum(
            p.numel() * p.element_size()
            for p in module.model.parameters()
            if not p.requires_grad
        )
        n_trained = (
            sum(p.numel() * p.element_size() for p in module.model.parameters())
            - n_frozen
        )
        assert len(blob) < n_frozen * 0.5 + 4 * n_trained + 200_000


def test_frozen_parts_reload_by_reference_with_fingerprint(tmp_path):
    path = make_tiny_text_model(tmp_path / "bert")
    X, shape = _block({"text": path}, "text")
    module = PretrainedBranch(path, trainable="lora").build(X.shape[1], shape)
    _train_steps(module, X)
    blob = pickle.dumps(module)
    # the checkpoint changes on disk: loading refuses, naming the problem
    make_tiny_text_model(path, random_state=1)
    clear_resource_cache()
    with pytest.raises(ValueError, match="changed since this model was fitted"):
        pickle.loads(blob)
    # "all" keeps every weight in the pickle and needs no checkpoint
    make_tiny_text_model(path)
    clear_resource_cache()
    full = PretrainedBranch(path, trainable="all").build(X.shape[1], shape)
    _train_steps(full, X)
    full.eval()
    expected = _vector(full(X))
    blob = pickle.dumps(full)
    for name in os.listdir(path):
        os.remove(os.path.join(path, name))
    clear_resource_cache()
    loaded = pickle.loads(blob)
    loaded.eval()
    torch.testing.assert_close(_vector(loaded(X)), expected, rtol=0, atol=0)


def test_unpickles_on_cpu_when_trained_on_cuda(models):
    # Simulation (no GPU here): tensors are pickled with CUDA storage tags and
    # CUDA is unavailable at load time; skorch's map_location path is mirrored
    # by torch.load(map_location="cpu").
    X, shape = _block(models, "text")
    module = _spec(models, "text", trainable="last_n").build(X.shape[1], shape)
    _train_steps(module, X)
    module.eval()
    expected = _vector(module(X))
    real_tag = torch.serialization.location_tag

    def cuda_tag(storage):
        return "cuda:0" if real_tag(storage) == "cpu" else real_tag(storage)

    buffer = io.BytesIO()
    with patch("torch.serialization.location_tag", cuda_tag):
        torch.save(module, buffer)
    with patch("torch.cuda.is_available", lambda: False):
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
        loaded = torch.load(
            io.BytesIO(buffer.getvalue()), map_location="cpu", weights_only=False
        )
    assert {p.device.type for p in loaded.parameters()} == {"cpu"}
    loaded.eval()
    torch.testing.assert_close(_vector(loaded(X)), expected, rtol=0, atol=0)


# -- inputs match the model's own preprocessing -------------------------------------
def test_text_branch_matches_tokenizer_and_model(models):
    from transformers import AutoModel, AutoTokenizer

    path = models["text"]
    texts = ["a good movie", "the plot was not bad at all really", "cat"]
    enc = TokenSequenceEncoder(tokenizer=path, max_length=16).fit(texts)
    module = PretrainedBranch(path, trainable="none").build(16, (16,))
    tokens, valid = module(torch.from_numpy(enc.transform(texts)))
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].bool()
    assert torch.equal(valid, mask)  # [CLS] ... [SEP] + padding, batch-trimmed
    torch.testing.assert_close(tokens[mask], hidden[mask])


def test_image_branch_matches_processor_and_model(models):
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModel

    path = models["image"]
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    encoder, spec = make_pretrained_pair(path, trainable="none")
    assert isinstance(encoder, PixelEncoder) and encoder.size == (16, 16)
    X = encoder.fit_transform(images)
    module = spec.build(X.shape[1], encoder.image_shape_)
    out = module(torch.from_numpy(X))
    processor = AutoImageProcessor.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    pixels = processor([Image.fromarray(im) for im in images], return_tensors="pt")
    with torch.no_grad():
        expected = model(**pixels).last_hidden_state[:, 0]
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


def test_audio_branch_matches_feature_extractor_and_model(models):
    from transformers import AutoFeatureExtractor, AutoModel

    path = models["audio"]
    waves, _ = make_test_tones(3, sr=16000, duration=(0.02, 0.05), random_state=0)
    encoder, spec = make_pretrained_pair(path, duration=0.05, trainable="none")
    X = encoder.fit_transform(waves)
    assert X.shape == (3, 800)
    module = spec.build(X.shape[1])
    tokens, valid = module(torch.from_numpy(X))
    extractor = AutoFeatureExtractor.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    for i, wave in enumerate(waves):
        inputs = extractor(wave, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            hidden = model(**inputs).last_hidden_state[0]
        n = hidden.shape[0]
        assert int(valid[i].sum()) == n
        torch.testing.assert_close(tokens[i, :n], hidden, rtol=1e-4, atol=1e-4)


# -- optimizer groups, schedule, memory options ---------------------------------------
def test_backbone_lr_and_layer_decay(models):
    X, shape = _block(models, "text")
    module = _spec(
        models, "text", trainable="all", backbone_lr=1e-4, layer_lr_decay=0.5
    ).build(X.shape[1], shape)
    head = torch.nn.Linear(module.output_size, 2)
    net = torch.nn.ModuleDict({"branch": module, "head": head})
    groups = network_param_groups(net, 1e-2)
    assert groups[0]["lr"] == 1e-2 and len(groups[0]["params"]) == 2  # the head
    lrs = [g["lr"] for g in groups[1:]]
    # embeddings, layer 0, layer 1 (+ pooler): 1e-4 * 0.5**2, * 0.5, * 1
    assert lrs == [2.5e-5, 5e-5, 1e-4]
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in net.parameters())  # each once
    frozen = _spec(models, "text", trainable="none").build(X.shape[1], shape)
    assert network_param_groups(frozen, 1e-3) == []


def test_warmup_schedule():
    factor = WarmupLR(warmup=0.2, decay="linear")._factor(10)
    values = [factor(s) for s in range(10)]
    assert values[0] < values[1] < values[2] == 1.0
    assert values[2:] == sorted(values[2:], reverse=True)
    assert values[-1] == pytest.approx(0.125)
    cosine = WarmupLR(warmup=0, decay="cosine", min_lr_ratio=0.1)._factor(4)
    assert cosine(0) == 1.0 and cosine(4) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warmup"):
        WarmupLR(warmup=1.5)._factor(10)
    with pytest.raises(ValueError, match="decay"):
        WarmupLR(decay="step")._factor(10)


def test_gradient_checkpointing_gives_the_same_gradients(models):
    X, shape = _block(models, "text")
    grads = []
    for checkpointing in (False, True):
        module = _spec(
            models, "text", trainable="all", gradient_checkpointing=checkpointing
        ).build(X.shape[1], shape)
        module.train()  # HF checkpoints only in training mode
        if checkpointing:
            flag = getattr(type(module.model), "is_activation_checkpointing", None)
            assert module.model.is_activation_checkpointing if flag else True
        torch.manual_seed(0)  # same dropout masks (checkpointing replays the RNG)
        loss = _vector(module(X)).square().sum()
        loss.backward()
        grads.append({n: p.grad for n, p in module.model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name, grad in grads[0].items():
        if grad is None:  # the unused pooler
            assert grads[1][name] is None
        else:
            torch.testing.assert_close(grad, grads[1][name])


def test_bf16_autocast_on_cpu(models):
    X, shape = _block(models, "text")
    module = _spec(models, "text", trainable="all", precision="bf16").build(
        X.shape[1], shape
    )
    tokens, _ = module(X)
    assert tokens.dtype == torch.float32
    reference = _spec(models, "text", trainable="all").build(X.shape[1], shape)
    reference.eval(), module.eval()
    torch.testing.assert_close(
        _vector(module(X)), _vector(reference(X)), rtol=0.1, atol=0.1
    )


# -- spec as a parameter object -------------------------------------------------
def test_spec_is_a_cloneable_parameter_object(models):
    spec = PretrainedBranch(models["text"], trainable="lora", lora_rank=4)
    params = spec.get_params()
    assert params["trainable"] == "lora" and params["lora_rank"] == 4
    copy = clone(spec)
    assert copy is not spec and copy.get_params() == params
    copy.set_params(lora_rank=2)
    assert spec.lora_rank == 4
    with pytest.raises(ValueError, match="Invalid parameter"):
        spec.set_params(rank=3)
    assert "lora_rank=4" in repr(spec) and "kind" not in repr(spec)
    assert spec.resolve_kind() == "text"
    assert PretrainedBranch(models["image"]).resolve_kind() == "image"
    assert PretrainedBranch(models["audio"]).resolve_kind() == "audio"
    assert PretrainedBranch("resnet18").resolve_kind() == "torchvision"


@pytest.mark.parametrize(
    "params, match",
    [
        ({"trainable": "some"}, "trainable"),
        ({"n_trainable_layers": -1}, "n_trainable_layers"),
        ({"layer_lr_decay": 1.5}, "layer_lr_decay"),
        ({"backbone_lr": 0}, "backbone_lr"),
        ({"weights": "w.pth"}, "weights= is for kind='torchvision'"),
        ({"trainable": "last_n", "n_trainable_layers": 5}, "has 2 layers"),
    ],
)
def test_bad_parameters_are_named(models, params, match):
    with pytest.raises(ValueError, match=match):
        PretrainedBranch(models["text"], **params).build(10, (10,))


def test_bad_inputs_are_named(models, tmp_path):
    with pytest.raises(ValueError, match="TokenSequenceEncoder"):
        module = PretrainedBranch(models["text"]).build(4, (4,))
        module(torch.tensor([[5.0, 9999.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="max_length"):
        PretrainedBranch(models["text"]).build(400, (400,))
    with pytest.raises(ValueError, match="needs at least"):
        PretrainedBranch(models["audio"]).build(10)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        PretrainedBranch(models["image"]).build(10, (10,))
    with pytest.raises(FileNotFoundError):
        PretrainedBranch(str(tmp_path / "nowhere" / "x" / "y"), kind="text").build(
            4, (4,)
        )
    with pytest.raises(ImportError, match=r"skmm\[lora\]"):
        with patch.dict("sys.modules", {"peft": None}):
            PretrainedBranch(models["text"], trainable="lora").build(4, (4,))


def test_make_pretrained_pair_text(models):
    encoder, spec = make_pretrained_pair(models["text"], max_length=500)
    assert isinstance(encoder, TokenSequenceEncoder)
    assert encoder.max_length == 128 - 2  # model positions minus [CLS], [SEP]
    assert spec.kind == "text" and spec.trainable == "last_n"
    assert isinstance(spec.build(8, (8,)), PretrainedBackbone)


# -- inside FusionClassifier / FusionRegressor --------------------------------------
def _text_table(n=40, seed=0):
    texts, y = make_text_samples(n, random_state=seed)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"text": texts, "noise": rng.normal(size=n)}), y


def _text_pipeline(models, estimator=FusionClassifier, **branch_params):
    encoder, spec = make_pretrained_pair(
        models["text"], "text", max_length=12, **branch_params
    )
    return make_pipeline(
        MultimodalEncoder(
            [("text", encoder, "text"), ("noise", "passthrough", ["noise"])]
        ),
        estimator(branches={"text": spec}, **FAST),
    )


FAST = {"hidden_size": 16, "max_epochs": 15, "lr": 1e-2, "random_state": 0}


@pytest.mark.parametrize("mode", MODES)
def test_fusion_fit_trains_only_the_requested_backbone_parameters(models, mode):
    X, y = _text_table()
    pipe = _text_pipeline(models, trainable=mode, n_trainable_layers=1)
    pipe.set_params(fusionclassifier__max_epochs=2).fit(X, y)
    net = pipe[-1].net_
    (backbone,) = [
        m for m in net.module_.modules() if isinstance(m, PretrainedBackbone)
    ]
    pristine = _spec(models, "text", trainable="none").build(12, (12,)).model
    reference = dict(pristine.named_parameters())
    in_optimizer = {id(p) for g in net.optimizer_.param_groups for p in g["params"]}
    for name, param in backbone.model.named_parameters():
        if param.requires_grad:
            assert id(param) in in_optimizer
        else:  # frozen: bit for bit the checkpoint, and not in the optimizer
            assert id(param) not in in_optimizer
            base = name.replace(".base_layer.", ".")
            assert torch.equal(param, reference[base]), name
    n_trained = sum(p.requires_grad for p in backbone.model.parameters())
    assert (n_trained == 0) == (mode == "none")


def test_fine_tuning_learns_and_round_trips(models, tmp_path):
    X, y = _text_table(48)
    pipe = _text_pipeline(models, trainable="all").fit(X, y)
    assert pipe.score(X, y) >= 0.9
    expected = pipe.predict_proba(X)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "pipe.joblib").predict_proba(X), expected
    )
    refit = clone(pipe).fit(X, y)  # a clone fits from its parameters, identically
    np.testing.assert_allclose(refit.predict_proba(X), expected, rtol=1e-5, atol=1e-6)


def test_grid_search_over_branch_specs(models):
    X, y = _text_table(32)
    encoder, spec = make_pretrained_pair(models["text"], "text", max_length=12)
    pipe = make_pipeline(
        MultimodalEncoder([("text", encoder, "text")]),
        FusionClassifier(**{**FAST, "max_epochs": 2}),
    )
    grid = {
        "fusionclassifier__branches": [
            {"text": clone(spec).set_params(trainable=mode)}
            for mode in ("none", "lora")
        ]
    }
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    best = search.best_params_["fusionclassifier__branches"]["text"]
    assert best.trainable in ("none", "lora")
    # the spec given to the search is untouched
    assert spec.trainable == "last_n"


@pytest.mark.parametrize("kind", ["image", "audio", "torchvision"])
def test_fusion_with_image_and_audio_backbones(models, kind, tmp_path):
    n = 24
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    if kind == "audio":
        cells, y = make_test_tones(n, sr=16000, duration=0.05, random_state=0)
        encoder, spec = make_pretrained_pair(models["audio"], duration=0.05)
    elif kind == "image":
        cells = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in y]
        encoder, spec = make_pretrained_pair(models["image"])
    else:
        cells = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in y]
        encoder, spec = make_pretrained_pair(
            "mobilenet_v3_small", weights=models["torchvision"], image_size=16
        )
    cells = list(cells)
    cells[3] = None  # a missing modality is masked, not fed to the backbone
    X = pd.DataFrame({"m": cells, "noise": rng.normal(size=n)})
    # LoRA for the transformers; last layers for torchvision (LoRA over every
    # convolution is covered at module level and costs more here)
    spec.set_params(trainable="last_n" if kind == "torchvision" else "lora")
    pipe = make_pipeline(
        MultimodalEncoder([("m", encoder, "m"), ("noise", "passthrough", ["noise"])]),
        FusionClassifier(branches={"m": spec}, **{**FAST, "max_epochs": 2}),
    ).fit(X, y)
    expected = pipe.predict_proba(X)
    assert expected.shape == (n, 2) and np.isfinite(expected).all()
    joblib.dump(pipe, tmp_path / "p.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "p.joblib").predict_proba(X), expected
    )


def test_regressor_with_bare_spec_on_token_matrix(models):
    X, y = _text_table(24)
    encoder, spec = make_pretrained_pair(models["text"], "text", max_length=12)
    tokens = encoder.fit_transform(X["text"].tolist())
    reg = FusionRegressor(branches=spec, **{**FAST, "max_epochs": 2})
    reg.fit(tokens, y.astype(float))
    assert reg.predict(tokens).shape == (24,)
    assert isinstance(reg.branches_["features"], PretrainedBranch)


def test_training_hygiene_callbacks(models, capsys):
    X, y = _text_table(40)
    pipe = _text_pipeline(models, trainable="last_n", backbone_lr=1e-3)
    pipe.set_params(
        fusionclassifier__early_stopping=True,
        fusionclassifier__validation_fraction=0.25,
        fusionclassifier__n_iter_no_change=2,
        fusionclassifier__max_epochs=6,
        fusionclassifier__callbacks=[
            WarmupLR(warmup=0.3),
            GradientNormClipping(1.0),
            ProgressBar(),
        ],
    ).fit(X, y)
    history = pipe[-1].history_
    lrs = [b["event_lr"] for e in history for b in e["batches"] if "train_loss" in b]
    # one lr per training batch: 30 samples / batch 64 = 1 batch per epoch
    assert len(lrs) == len(history)
    assert lrs[0] < max(lrs)  # warm-up
    assert "valid_loss" in history[-1]
    groups = pipe[-1].net_.optimizer_.param_groups
    assert sorted({g["initial_lr"] for g in groups}) == [1e-3, 1e-2]


def test_estimator_trained_on_cuda_unpickles_on_cpu(models):
    X, y = _text_table(24)
    pipe = _text_pipeline(models, trainable="lora")
    pipe.set_params(fusionclassifier__max_epochs=2).fit(X, y)
    expected = pipe.predict_proba(X)
    clf = pipe[-1]
    clf.device = "cuda"
    clf.net_.device = "cuda"
    real_tag = torch.serialization.location_tag

    def cuda_tag(storage):
        return "cuda:0" if real_tag(storage) == "cpu" else real_tag(storage)

    with patch("torch.serialization.location_tag", cuda_tag):
        blob = pickle.dumps(pipe)
    with patch("torch.cuda.is_available", lambda: False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DeviceWarning, device='cpu' notice
            loaded = pickle.loads(blob)
        module = loaded[-1].net_.module_
        assert {p.device.type for p in module.parameters()} == {"cpu"}
        np.testing.assert_allclose(loaded.predict_proba(X), expected)


def test_aligner_with_a_pretrained_branch_gets_backbone_lr_groups(models):
    from skmm.alignment import ContrastiveAligner

    X, _ = _text_table(30)
    pipe = _text_pipeline(
        models, estimator=ContrastiveAligner, trainable="last_n", backbone_lr=1e-3
    )
    pipe.set_params(contrastivealigner__max_epochs=2).fit(X)
    groups = pipe[-1].net_.optimizer_.param_groups
    assert sorted({g["lr"] for g in groups}) == [1e-3, 1e-2]
    assert np.isfinite(np.asarray(pipe.transform(X), dtype=float)).all()
