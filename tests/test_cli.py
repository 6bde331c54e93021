"""The ``skmm`` command line and ``skmm demo``."""

import subprocess
import sys

import joblib
import numpy as np
import pytest

from skmm._cli import main
from skmm._demo import build_pipelines, list_pipelines


def test_help_explains_demo_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--full", "--n-samples", "--cv", "--missing-rate", "--output"):
        assert option in out
    assert "3-fold" in out and "300 samples" in out and "900 samples" in out


def test_list_pipelines_covers_every_kind():
    for full in (False, True):
        kinds = {kind for _, kind, _ in list_pipelines(full=full)}
        assert kinds == {"unimodal", "fused", "ensemble"}
        names = [name for name, _, _, _ in build_pipelines(full=full)]
        assert len(names) == len(set(names))
    assert len(list_pipelines()) < len(list_pipelines(full=True))


def test_unknown_pipeline_is_an_error(capsys, tmp_path):
    code = main(["demo", "--only", "nope", "--output", str(tmp_path)])
    assert code == 2
    assert "unknown pipeline" in capsys.readouterr().out


def test_demo_small_run_writes_model_and_figure(tmp_path, capsys):
    code = main(
        [
            "demo",
            "--n-samples",
            "120",
            "--cv",
            "2",
            "--only",
            "text: tfidf+logreg",
            "audio: mfcc+logreg",
            "concat + logreg",
            "--output",
            str(tmp_path),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "concat + logreg" in out and "predicts identically" in out
    assert (tmp_path / "comparison.png").stat().st_size > 1000
    model = joblib.load(tmp_path / "best_model.joblib")
    assert set(np.unique(model.classes_)) == set(range(10))


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "skmm", "version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("skmm ")


SMALL = ["demo", "--n-samples", "60", "--cv", "2", "--no-progress"]
SMALL += ["--only", "text: tfidf+logreg", "concat + logreg"]


def test_output_folder_is_checked_before_the_run(tmp_path, capsys, monkeypatch):
    import skmm._demo

    def no_cv(*args, **kwargs):
        raise AssertionError("the CV work must not start")

    monkeypatch.setattr(skmm._demo, "_cross_validate", no_cv)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main([*SMALL, "--output", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().out
    assert main([*SMALL, "--output", str(blocker / "sub")]) == 2
    assert "cannot create" in capsys.readouterr().out
    (tmp_path / "out" / "best_model.joblib").mkdir(parents=True)
    assert main([*SMALL, "--output", str(tmp_path / "out")]) == 2
    assert "is a folder" in capsys.readouterr().out


def test_output_never_follows_a_planted_symlink(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "best_model.joblib").symlink_to(victim)
    (out / "comparison.png").write_bytes(b"old")
    assert main([*SMALL, "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "will replace" in text and "symbolic link" in text
    assert "comparison.png" in text
    assert victim.read_text() == "precious"
    assert not (out / "best_model.joblib").is_symlink()
    joblib.load(out / "best_model.joblib")
    assert not list(out.glob(".tmp-*")) and not list(out.glob(".skmm-probe-*"))


def test_failed_write_leaves_no_partial_file(tmp_path):
    from skmm._demo import write_atomic

    target = tmp_path / "model.joblib"
    target.write_bytes(b"previous")

    def broken(path):
        with open(path, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(str(target), broken)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_table_figure_and_best_agree_on_ties(tmp_path, monkeypatch):
    import matplotlib.axes

    from skmm._demo import _figure, _table, rank

    results = [
        {"name": n, "kind": "fused", "mean": 0.9, "std": s, "fit_time": 1.0}
        for n, s in (("fusion: attention", 0.01), ("selection: library", 0.01))
    ]
    results.append(
        {"name": "x", "kind": "unimodal", "mean": 0.2, "std": 0.0, "fit_time": 1}
    )
    drawn = {}
    original = matplotlib.axes.Axes.barh

    def spy(self, names, *args, **kwargs):
        drawn["names"] = list(names)
        return original(self, names, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "barh", spy)
    _figure(results, tmp_path / "f.png", "t")
    table_order = [
        line.split("  ")[0].strip() for line in _table(results).split("\n")[2:]
    ]
    assert drawn["names"][::-1] == table_order == [r["name"] for r in rank(results)]
    assert rank(results)[0]["name"] == "fusion: attention"


def test_panels_hook_runs_after_the_comparison(tmp_path, capsys, monkeypatch):
    import skmm._demo

    seen = {}

    def panel(context):
        seen.update(context)
        path = f"{context['output']}/panel.txt"
        context["write"](path, lambda tmp: open(tmp, "w").write("ok"))
        return "panel: done"

    monkeypatch.setattr(skmm._demo, "PANELS", [panel])
    assert main([*SMALL, "--output", str(tmp_path)]) == 0
    assert "panel: done" in capsys.readouterr().out
    assert (tmp_path / "panel.txt").read_text() == "ok"
    assert {"X", "y", "results", "best", "seed"} <= set(seen)


def test_repeated_run_reads_the_encoding_cache(tmp_path, capsys):
    args = [*SMALL, "--output", str(tmp_path), "--no-figure"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert list((tmp_path / "encoding_cache").rglob("*.npy"))
    assert main(args) == 0
    second = capsys.readouterr().out
    table = [line for line in first.splitlines() if "+-" in line]
    assert [line[:40] for line in table] == [
        line[:40] for line in second.splitlines() if "+-" in line
    ]


def test_ensemble_gain_is_over_the_best_member_on_the_same_fold():
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmm._demo import _gains, _mean_member_scores, _member_scores
    from skmm.datasets import make_multimodal_classification
    from skmm.ensemble import EnsembleSelectionClassifier

    X, y = make_multimodal_classification(160, random_state=0)
    train, test = np.arange(100), np.arange(100, 160)
    library = [
        ("logreg", LogisticRegression(max_iter=1000)),
        ("prior", DummyClassifier()),
    ]
    model = make_pipeline(
        StandardScaler(),
        EnsembleSelectionClassifier(library, ensemble_size=5, cv=3, random_state=0),
    ).fit(X.iloc[train], y[train])
    assert model[-1].weights_.tolist() == [1.0, 0.0]  # "prior" is left out
    scores = _member_scores(model, X.iloc[train], y[train], X.iloc[test], y[test])
    scaler = StandardScaler().fit(X.iloc[train])
    for name, est in library:  # members scored as fitted alone on the same fold
        alone = est.fit(scaler.transform(X.iloc[train]), y[train])
        assert scores[name] == alone.score(scaler.transform(X.iloc[test]), y[test])
    assert _member_scores(LogisticRegression().fit(X, y), X, y, X, y) is None

    folds = [scores, {"logreg": scores["logreg"] - 0.1, "prior": 0.5}]
    members = _mean_member_scores(folds)
    assert members["logreg"] == pytest.approx(scores["logreg"] - 0.05)
    result = {"name": "sel", "mean": 0.95, "std": 0.0, "members": members}
    line = _gains([result]).splitlines()[1]
    gain = 0.95 - max(members.values())
    assert "best member logreg" in line and f"{gain:+.3f}" in line
    assert _gains([{**result, "members": None}]) == ""


def test_worker_epochs_reach_the_fold_bar():
    import queue
    import threading

    from skmm._demo import _Progress, _relay_epochs

    class Bar:
        postfixes = []

        def set_postfix_str(self, text, refresh=True):
            self.postfixes.append(text)

    q = queue.Queue()
    relay = threading.Thread(target=_relay_epochs, args=(q, Bar()))
    relay.start()
    try:
        _Progress.queue, _Progress.fold = q, 1
        _Progress.epoch(3, 30)
        _Progress.fold = 0
        _Progress.epoch(30, 30)
    finally:
        _Progress.queue = None
        q.put(None)
        relay.join(timeout=10)
    assert Bar.postfixes == ["fold 2 epoch 3/30", "fold 2 epoch 3/30"]


def test_readme_demo_table_names_the_demo_pipelines():
    """The README's default-demo table lists every default pipeline under the
    name the demo prints (benchmarks/check_readme.py compares the numbers)."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location(
        "check_readme", root / "benchmarks" / "check_readme.py"
    )
    check_readme = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_readme)
    stated, seconds = check_readme.readme_demo_table(
        (root / "README.md").read_text(encoding="utf-8")
    )
    assert sorted(stated) == sorted(name for name, _, _ in list_pipelines())
    assert seconds is not None and seconds <= 180  # the budget: 3 min
    code, taste_seconds = check_readme.readme_taste(
        (root / "README.md").read_text(encoding="utf-8")
    )
    assert "print(" in code and taste_seconds is not None
