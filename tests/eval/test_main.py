"""``python -m eval``: options that would fail a run late are refused before it starts."""
from __future__ import annotations

import pytest

from eval.__main__ import main


def test_negative_seed_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["context", "--quick", "--seed", "-1"])
    assert exit_.value.code == 2
    assert "argument --seed: -1 is not valid: use an integer >= 0" in capsys.readouterr().err


def test_output_dir_below_a_file_fails_before_the_suite_runs(tmp_path, capsys, monkeypatch):
    from eval.suites import data

    monkeypatch.setattr(data, "run", lambda args: pytest.fail("the suite must not start"))
    (tmp_path / "results").write_text("not a folder")
    assert main(["data", "--quick", "--output-dir", str(tmp_path / "results" / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"eval: error: --output-dir {tmp_path}/results/data: {tmp_path}/results is a file, not a folder."]
