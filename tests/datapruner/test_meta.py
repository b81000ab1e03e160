"""Meta-tests (sklearn style): CLI flags match API names; every registered scorer rejects bad values alike."""
from __future__ import annotations

import argparse
import inspect

import datasets
import pytest

import datapruner
from datapruner import SCORERS, DataprunerError
from datapruner.cli.main import build_parser

CLI_ONLY = {"out", "report", "param", "func", "debug", "command", "help"}


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("command, function", [("select", datapruner.select_rows), ("score", datapruner.score)])
def test_every_cli_flag_is_an_api_parameter_with_the_same_name(command, function):
    dests = {a.dest for a in _subparser(command)._actions} - CLI_ONLY
    params = set(inspect.signature(function).parameters)
    assert dests <= params, f"flags without an API twin: {sorted(dests - params)}"


@pytest.mark.parametrize("method", sorted(SCORERS))
def test_every_scorer_takes_seed_and_reports_its_params(method):
    scorer = datapruner.get_scorer(method, seed=7)
    assert scorer.get_params()["seed"] == 7
    assert scorer.name == method
    assert isinstance(scorer.higher_is_harder, bool)


@pytest.mark.parametrize("method", sorted(SCORERS))
def test_unknown_scorer_parameter_is_a_one_line_package_error(method):
    with pytest.raises(DataprunerError) as info:
        datapruner.get_scorer(method, not_a_parameter=1)
    assert "\n" not in str(info.value) and method in str(info.value)


@pytest.mark.parametrize("method", sorted(m for m, cls in SCORERS.items() if cls.needs_labels))
def test_label_based_scorers_refuse_unlabelled_data(method):
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c", "d"]})
    with pytest.raises(DataprunerError, match="needs labels|column 'label'"):
        datapruner.score(ds, method=method)


def test_cli_help_does_not_import_torch():
    """`datapruner --help` must stay fast: building every subcommand's parser may not load torch (2 s)."""
    import subprocess
    import sys

    code = ("import sys; from datapruner.cli.main import build_parser; build_parser(); "
            "import datapruner.models.pipeline; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
