"""Every gallery example runs (offline, headless) without error."""

import pathlib
import runpy

import matplotlib
import pytest

matplotlib.use("Agg")

EXAMPLES = sorted(pathlib.Path(__file__).parents[1].glob("examples/*/plot_*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_example_runs(path, monkeypatch, tmp_path, capsys):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # headless: the example saves its figure here
    runpy.run_path(str(path), run_name="__main__")
    plt.close("all")
    out = capsys.readouterr().out
    assert "accuracy" in out  # results are printed, not only plotted
    assert f"figure saved to {path.stem}.png" in out
    assert (tmp_path / f"{path.stem}.png").stat().st_size > 1000
