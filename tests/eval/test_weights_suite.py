"""The weights suite through the harness: the MNIST section on the shipped fixture, and CLI errors (issue 8)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.__main__ import main
from eval.report import render_markdown

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "data_suite"


def test_weights_quick_mnist_section_writes_json_markdown_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "w"
    rc = main(["weights", "--quick", "--sections", "mnist", "--data-root", str(FIXTURE), "--output-dir", str(out)])
    assert rc == 0
    results = json.loads((out / "results.json").read_text())
    for key in ("config", "seed", "mnist", "tables", "plots", "verdicts", "timings", "command", "machine_load"):
        assert key in results
    mn = results["mnist"]
    assert mn["split"] == {"n_train": 320, "n_test": 80, "source": "t10k split"}
    assert [r["round"] for r in mn["imp_init"]] == [0, 1] and mn["imp_init"][1]["sparsity"] > 0.4
    assert 0.75 <= mn["gradual"][0]["sparsity"] <= 0.85
    assert all(0.0 <= r["accuracy"] <= 1.0 for k in ("oneshot", "gradual") for r in mn[k])
    assert (out / "mnist_accuracy.png").stat().st_size > 1000
    assert (out / "results.md").read_text() == render_markdown(results)


@pytest.mark.parametrize("argv,needle", [
    (["--sections", "nope"], "--sections='nope'"),
    (["--threads", "0"], "--threads=0"),
    (["--latency-threads", "0"], "--latency-threads=0"),
    (["--patterns", "33%"], "--patterns='33%'"),
    (["--methods", "obd"], "--methods='obd'"),
    (["--n-questions", "3"], "--n-questions=3"),
    (["--budgets", "0,x"], "--budgets='0,x'"),
])
def test_weights_bad_options_exit_2_with_one_line(argv, needle, tmp_path: Path, capsys) -> None:
    rc = main(["weights", "--quick", "--data-root", str(tmp_path), "--output-dir", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("eval: error: ") and needle in err and "\n" not in err
