"""``python bench/run.py <suite> --plot PATH``: the suites' ratios drawn as bars (no timing asserted)."""
import pytest

import run


def test_draw_makes_a_png_of_the_ratios(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    records = [{"graph": "cora", "model": model, "impl": impl, "median_ms": ms, "ratio": ratio}
               for model, impl, ms, ratio in (("gcn", "fastgnn", 2.0, 1.0), ("gcn", "pyg", 6.0, 3.0),
                                              ("sage", "fastgnn", 3.0, 1.0), ("sage", "pyg", 9.0, 3.0))]
    path = tmp_path / "ratios.png"
    run._draw(records, str(path), run.PLOTTED["training"])
    assert f"bar chart drawn to {path}" in capsys.readouterr().out
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("path", ["ratios.pdf", "missing/ratios.png"])
def test_a_bad_plot_path_is_refused_before_any_measurement(tmp_path, capsys, path):
    with pytest.raises(SystemExit) as exit_info:
        run.main(["training", "--plot", str(tmp_path / path)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "--plot" in captured.err and "training epochs" not in captured.out


def test_suites_without_ratios_have_no_plot(capsys):
    with pytest.raises(SystemExit):
        run.main(["scaling", "--plot", "x.png"])
    assert "unrecognized arguments: --plot" in capsys.readouterr().err
