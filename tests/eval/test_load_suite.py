"""``python -m eval load``: option checks (fast) and one bounded run on a shipped SQuAD fixture (issue 7)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.__main__ import main
from eval.report import render_markdown

FIXTURE_ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "ragprune_train"  # holds squad/squad_v1.1_dev.json.gz


@pytest.mark.parametrize("extra, text", [
    (["--concurrency", "1,x"], "--concurrency"),
    (["--concurrency", "0"], "--concurrency"),
    (["--configs", "turbo"], "--configs"),
    (["--duration", "0"], "--duration"),
])
def test_bad_options_exit_2(tmp_path, capsys, extra, text):
    assert main(["load", "--quick", "--data-root", str(FIXTURE_ROOT), "--output-dir", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eval: error: ") and text in err and err.count("\n") == 1


def test_missing_data_root_exit_2(tmp_path, capsys):
    assert main(["load", "--quick", "--data-root", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path)]) == 2
    assert "squad_v1.1_dev.json.gz" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_on_fixture(tmp_path):
    out = tmp_path / "load"
    code = main(["load", "--quick", "--data-root", str(FIXTURE_ROOT), "--output-dir", str(out), "--duration", "0.5",
                 "--concurrency", "1,3", "--configs", "batched", "--contexts", "3", "--requests", "6"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert {"config", "tables", "plots", "verdicts", "runs", "shutdown_exit_codes", "command"} <= set(results)
    assert [r["clients"] for r in results["runs"]] == [1, 3]
    for run in results["runs"]:
        assert run["ok"] >= 1 and run["statuses"] == {"200": run["ok"]} and run["fallbacks"] == 0
        assert 0 < run["p50_ms"] <= run["p95_ms"]
    assert results["shutdown_exit_codes"] == {"batched": 0}
    assert (out / "results.md").read_text() == render_markdown(results)
    assert (out / "throughput.png").exists()
