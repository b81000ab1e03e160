"""``python -m eval scale-ray``: option checks (fast) and one tiny end-to-end run (issue 9)."""
from __future__ import annotations

import json

import pytest

from eval.__main__ import main
from eval.report import render_markdown


@pytest.mark.parametrize("extra, text", [(["--n-rows", "10"], "--n-rows"), (["--keep", "1.5"], "--keep")])
def test_bad_options_exit_2(tmp_path, capsys, extra, text):
    assert main(["scale-ray", "--quick", "--output-dir", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eval: error: ") and text in err and err.count("\n") == 1


@pytest.mark.slow
def test_tiny_run_local_vs_ray_and_memory(tmp_path):
    out = tmp_path / "scale-ray"
    code = main(["scale-ray", "--n-rows", "3000", "--dim", "8", "--methods", "prototype", "--rss-rows", "2000",
                 "4000", "--rss-clusters", "8", "--work-dir", str(tmp_path / "work"), "--output-dir", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert {"config", "tables", "verdicts", "runs", "memory", "command"} <= set(results)
    local, ray_run = results["runs"]
    assert (local["engine"], ray_run["engine"]) == ("local", "ray") and "failed" not in ray_run
    assert ray_run["agreement"]["same_kept_rows"] and ray_run["agreement"]["scores_identical"]
    assert [m["rows"] for m in results["memory"]] == [2000, 2000, 4000, 4000]
    assert all(m.get("scores_identical_to_in_memory", True) for m in results["memory"])
    assert (out / "results.md").read_text() == render_markdown(results)
