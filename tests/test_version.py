"""Both packages and both CLIs report the version written in pyproject.toml (the one source of truth)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import datapruner
import ragprune
from datapruner.cli.main import main as datapruner_main
from ragprune.cli.main import main as ragprune_main

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _pyproject_version() -> str:
    found = re.search(r'^version = "([^"]+)"$', PYPROJECT.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert found, "pyproject.toml has no static version line"
    return found.group(1)


def test_packages_report_the_pyproject_version() -> None:
    assert datapruner.__version__ == ragprune.__version__ == _pyproject_version()


@pytest.mark.parametrize("main, prog", [(datapruner_main, "datapruner"), (ragprune_main, "ragprune")])
def test_cli_version_flag(main, prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"{prog} {_pyproject_version()}"
