"""Must-show measurement: does fusion ever lose to ignoring a noisy modality?

On the built-in digits data (text + image + audio, every modality needed, see
``skmm.datasets.make_multimodal_digits``), one modality of the *test* set is
corrupted at rising severity. For each modality we compare

* the best model that does not use it: a logistic regression and a fusion
  network on the two other modalities (both trained on clean data), and
* fusion networks on all three modalities, trained on clean data without and
  with skmm's noise-robust training options.

The question of the issue: at full severity, does the fused model trained
with the robustness options score at least as well as the best model without
the corrupted modality? The script prints the curves, the relative robustness
(MultiBench) of each model and the margin at full severity.

Encoders are fitted once on the training table; every model reads the same
encoded blocks, and each corrupted test table is encoded once.

Run: ``python benchmarks/robustness_digits.py`` (a few minutes on 2 busy
cores); ``--quick`` for a smaller run.
"""

import argparse
import time
import warnings

import pandas as pd

SR = 8000
MODALITIES = ("text", "image", "audio")

#: The corruption used for each modality's curve (full severity = the worst).
CURVE = {"text": "typos", "image": "gaussian_noise", "audio": "white_noise"}
#: Other corruptions measured at full severity only.
EXTRA = {
    "text": ("word_dropout",),
    "image": ("blur", "occlusion"),
    "audio": ("pink_noise", "band_limit"),
}


def encoder():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmm.compose import MultimodalEncoder
    from skmm.encoders import MFCCEncoder, PixelEncoder

    return MultimodalEncoder(
        [
            (
                "text",
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2),
                "text",
            ),
            ("image", PixelEncoder(size=(16, 16), mode="L"), "image"),
            (
                "audio",
                MFCCEncoder(sr=SR, n_mfcc=20, n_mels=40, n_fft=512, hop_length=256),
                "audio",
            ),
        ]
    )


def linear(seed):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=0.5, max_iter=3000, random_state=seed),
    )


def fusion(seed, epochs, **options):
    from skmm.fusion import FusionClassifier

    return FusionClassifier(
        "early",
        hidden_size=64,
        dropout=0.2,
        max_epochs=epochs,
        batch_size=64,
        lr=2e-3,
        weight_decay=1e-4,
        random_state=seed,
        **options,
    )


#: The noise-robust training options (what "trained with the robustness
#: options" means below).
ROBUST = {"modality_dropout": 0.3, "feature_noise": 0.5}


def _blocks(frame, modalities):
    cols = [c for c in frame.columns if c.split("__", 1)[0] in modalities]
    return frame[cols]


def main(n_samples=1000, n_train=700, epochs=60, seed=0, quick=False):
    from skmm.datasets import make_multimodal_digits
    from skmm.robustness import corrupt_modalities, relative_robustness

    severities = (0.0, 0.5, 1.0) if quick else (0.0, 0.25, 0.5, 0.75, 1.0)
    t0 = time.perf_counter()
    X, y = make_multimodal_digits(n_samples, random_state=seed)
    X_train, y_train = X.iloc[:n_train], y[:n_train]
    X_test, y_test = X.iloc[n_train:].reset_index(drop=True), y[n_train:]
    enc = encoder().fit(X_train, y_train)
    names = enc.get_feature_names_out()

    def encode(table):
        return pd.DataFrame(enc.transform(table), columns=names)

    Z_train = encode(X_train)
    print(f"data + encoders: {time.perf_counter() - t0:.0f} s")

    models = {}
    for m in MODALITIES:
        others = tuple(o for o in MODALITIES if o != m)
        models[f"logreg {'+'.join(others)}"] = (others, linear(seed))
        models[f"fusion {'+'.join(others)}"] = (others, fusion(seed, epochs))
    models["logreg all"] = (MODALITIES, linear(seed))
    models["fusion all (plain)"] = (MODALITIES, fusion(seed, epochs))
    models["fusion all (robust)"] = (MODALITIES, fusion(seed, epochs, **ROBUST))
    for name, (mods, model) in models.items():
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(_blocks(Z_train, mods), y_train)
        print(f"fit {name:<24} {time.perf_counter() - t:6.1f} s")

    def scores(Z):
        return {
            name: float(model.score(_blocks(Z, mods), y_test))
            for name, (mods, model) in models.items()
        }

    clean = scores(encode(X_test))
    rows = [{"corruption": "none", "severity": 0.0, **clean}]
    for m in MODALITIES:
        for corruption in (CURVE[m], *(() if quick else EXTRA[m]), "missing"):
            levels = severities if corruption == CURVE[m] else (1.0,)
            for s in levels:
                if s == 0.0:
                    rows.append({"corruption": f"{m}: {corruption}", "severity": s})
                    rows[-1].update(clean)
                    continue
                Xc = corrupt_modalities(
                    X_test, {m: (corruption, s)}, sr=SR, random_state=seed
                )
                rows.append({"corruption": f"{m}: {corruption}", "severity": s})
                rows[-1].update(scores(encode(Xc)))
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    print("\nTest accuracy (chance 0.10):")
    print(table.round(3).to_string(index=False))

    print("\nFull severity: robust fusion vs the best model without the modality")
    for m in MODALITIES:
        others = "+".join(o for o in MODALITIES if o != m)
        for corruption in (CURVE[m], *(() if quick else EXTRA[m]), "missing"):
            row = table[
                (table["corruption"] == f"{m}: {corruption}")
                & (table["severity"] == 1.0)
            ].iloc[0]
            best = max(row[f"logreg {others}"], row[f"fusion {others}"])
            for fused in ("fusion all (plain)", "fusion all (robust)"):
                margin = row[fused] - best
                print(
                    f"  {m:<5} {corruption:<15} {fused:<20} {row[fused]:.3f} vs "
                    f"{best:.3f} (without {m}): margin {margin:+.3f}"
                )
        curve = table[table["corruption"] == f"{m}: {CURVE[m]}"]
        rr = {
            name: relative_robustness(curve["severity"], curve[name])
            for name in ("fusion all (plain)", "fusion all (robust)", "logreg all")
        }
        print(
            f"  relative robustness ({m}: {CURVE[m]}): "
            + ", ".join(f"{k} {v:.3f}" for k, v in rr.items())
        )
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--n-train", type=int, default=700)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.n_samples, args.n_train, args.epochs, args.seed, args.quick)
