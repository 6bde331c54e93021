"""Every gallery example runs (offline, headless) without error."""

import pathlib
import re
import runpy
import tempfile

import matplotlib
import pytest

matplotlib.use("Agg")

EXAMPLES = sorted(pathlib.Path(__file__).parents[1].glob("examples/*/plot_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_runs(path, monkeypatch, tmp_path, capsys):
    import matplotlib.pyplot as plt

    # headless: the example saves its figure to the temporary folder
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(path), run_name="__main__")
    plt.close("all")
    out = capsys.readouterr().out
    # results are printed, not only plotted
    assert re.search(r"\b\d\.\d{2,}\b", out), out
    figures = sorted(tmp_path.glob("*.png"))
    assert figures, "the example saved no figure"
    for figure in figures:
        assert f"figure saved to {figure}" in out
        assert figure.stat().st_size > 1000
