"""Quality measurements of the aligners (the heavy counterparts of the tests).

Prints, seeded:

1. recall@1 (match by label) of cross-modal retrieval on held-out samples of the
   built-in ``make_multimodal_digits`` (encoded as in the README), for every
   pair of modalities -- expected near chance: each modality carries an
   independent clue, the best possible recall@1 is about 0.133 (1.33x chance);
2. the same on two-view digits (top / bottom halves of scikit-learn's 8x8
   digits), where both views carry the digit (chance 0.1);
3. semi-supervised: aligner on all pairs + logistic regression on 8 % labels vs
   the same classifier on the unaligned features (two-view digits);
4. CycleAligner imputation vs masking with the bottom half missing for half of
   the test samples;
5. ``FusionClassifier(alignment=...)`` with 60 labels, 3 splits.

Run: ``python benchmarks/measure_alignment.py`` (a few minutes on one core).
"""

import itertools
import os

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

os.environ.setdefault("SKMM_NUM_THREADS", "1")

from skmm.alignment import (
    AdversarialAligner,
    CCAAligner,
    ContrastiveAligner,
    CycleAligner,
    retrieval_curve,
)
from skmm.compose import MultimodalEncoder
from skmm.datasets import make_multimodal_digits
from skmm.encoders import MFCCEncoder, PixelEncoder
from skmm.fusion import FusionClassifier

NET = {"hidden_size": 32, "max_epochs": 30, "lr": 3e-3, "random_state": 0}


def aligners():
    return {
        "CCA": CCAAligner(8, regularization="auto"),
        "contrastive": ContrastiveAligner(16, **NET),
        "adversarial": AdversarialAligner(16, **NET),
        "cycle": CycleAligner(16, **NET),
    }


def two_view_digits():
    digits = load_digits()
    n = len(digits.target)
    X = pd.DataFrame(
        np.hstack(
            [digits.images[:, :4].reshape(n, -1), digits.images[:, 4:].reshape(n, -1)]
        ),
        columns=[f"top__p{i}" for i in range(32)]
        + [f"bottom__p{i}" for i in range(32)],
    )
    return X, digits.target


def recall1(aligner, X, y, q, c):
    return retrieval_curve(
        aligner, X, y, query_modality=q, candidate_modality=c, ks=[1]
    )[1][0]


def builtin_digits():
    print(
        "1. built-in make_multimodal_digits, held-out recall@1 by digit "
        "(chance 0.10, best possible ~0.13)"
    )
    X, y = make_multimodal_digits(n_samples=900, random_state=0)
    encoder = MultimodalEncoder(
        [
            ("text", TfidfVectorizer(ngram_range=(1, 2)), "text"),
            ("image", PixelEncoder(size=(16, 16), mode="L"), "image"),
            ("audio", MFCCEncoder(sr=8000), "audio"),
        ]
    )
    Xtr, Xte, _, yte = train_test_split(X, y, test_size=300, random_state=0)
    Etr = encoder.fit_transform(Xtr)
    Ete = encoder.transform(Xte)
    names = ["text", "image", "audio"]
    for name, aligner in aligners().items():
        if name == "CCA":
            aligner.set_params(n_components=4)
        aligner.fit(Etr)
        values = [
            f"{q}->{c} {recall1(aligner, Ete, yte, q, c):.3f}"
            for q, c in itertools.permutations(names, 2)
        ]
        print(f"   {name:<12}", ", ".join(values), flush=True)


def two_views():
    print("2. two-view digits, held-out recall@1 by label (chance 0.10)")
    X, y = two_view_digits()
    Xtr, Xte, ytr, yte = train_test_split(
        X, y, train_size=1000, test_size=500, random_state=0, stratify=y
    )
    fitted = {}
    for name, aligner in aligners().items():
        fitted[name] = aligner.fit(Xtr)
        down = recall1(aligner, Xte, yte, "top", "bottom")
        up = recall1(aligner, Xte, yte, "bottom", "top")
        print(f"   {name:<12} top->bottom {down:.3f}  bottom->top {up:.3f}", flush=True)

    print("3. semi-supervised (8% labels = 80), logistic regression accuracy")

    def clf():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))

    labelled = np.random.RandomState(0).choice(len(Xtr), 80, replace=False)
    raw = clf().fit(Xtr.iloc[labelled], ytr[labelled]).score(Xte, yte)
    print(f"   unaligned features {raw:.3f}")
    for name, aligner in fitted.items():
        Z = aligner.transform(Xtr)
        acc = clf().fit(Z[labelled], ytr[labelled]).score(aligner.transform(Xte), yte)
        print(f"   {name:<12} {acc:.3f}")

    print("4. CycleAligner: bottom half missing for half the test samples")
    cycle = fitted["cycle"]
    model = LogisticRegression(max_iter=2000).fit(cycle.transform(Xtr), ytr)
    Xm = Xte.copy()
    half = np.arange(len(Xte)) % 2 == 0
    Xm.loc[Xm.index[half], [c for c in X.columns if c.startswith("bottom")]] = np.nan
    masked = model.score(np.nan_to_num(cycle.transform(Xm)), yte)
    imputed = model.score(cycle.set_params(impute=True).transform(Xm), yte)
    cycle.set_params(impute=False)
    full = model.score(cycle.transform(Xte), yte)
    print(
        f"   complete test {full:.3f}; half missing: masked (0) {masked:.3f}, "
        f"imputed {imputed:.3f}"
    )


def fusion_alignment():
    print("5. FusionClassifier(alignment=...), 60 labelled samples, test accuracy")
    X, y = two_view_digits()
    settings = [(None, 0.1)] + [
        (a, w) for a in ("contrastive", "cycle", "adversarial") for w in (0.1, 1.0)
    ]
    scores = {s: [] for s in settings}
    for seed in range(3):
        Xtr, Xte, ytr, yte = train_test_split(
            X, y, train_size=60, test_size=600, random_state=seed, stratify=y
        )
        for alignment, weight in settings:
            clf = FusionClassifier(
                alignment=alignment,
                alignment_weight=weight,
                hidden_size=32,
                max_epochs=60,
                random_state=0,
            )
            scores[(alignment, weight)].append(clf.fit(Xtr, ytr).score(Xte, yte))
    for (alignment, weight), values in scores.items():
        print(
            f"   alignment={alignment!s:<12} weight={weight:<4} "
            f"{np.mean(values):.3f} +- {np.std(values):.3f}"
        )


if __name__ == "__main__":
    builtin_digits()
    two_views()
    fusion_alignment()
