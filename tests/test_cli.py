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
    for option in ("--quick", "--n-samples", "--cv", "--missing-rate", "--output"):
        assert option in out


def test_list_pipelines_covers_every_kind():
    kinds = {kind for _, kind, _ in list_pipelines(quick=False)}
    assert {"unimodal", "fused"} <= kinds
    names = [name for name, _, _, _ in build_pipelines(quick=True)]
    assert len(names) == len(set(names))


def test_unknown_pipeline_is_an_error(capsys, tmp_path):
    code = main(["demo", "--only", "nope", "--output", str(tmp_path)])
    assert code == 2
    assert "unknown pipeline" in capsys.readouterr().out


def test_demo_small_run_writes_model_and_figure(tmp_path, capsys):
    code = main(
        [
            "demo",
            "--quick",
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
