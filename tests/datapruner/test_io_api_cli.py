"""Data in/out on every format, the score/select API, and the CLI contract end to end."""
from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest

import datapruner
from datapruner import DataprunerError
from datapruner.cli.main import main
from datapruner.io import data_fingerprint, load_data, read_scores, save_data, write_scores
from tests.datapruner._scorer_fakes import HashingEmbedder

FIXTURE = Path(__file__).parent.parent / "fixtures" / "text_noisy.jsonl"


@pytest.fixture(scope="module")
def small() -> datasets.Dataset:
    return datasets.Dataset.from_dict({
        "text": [f"sentence number {i} é" for i in range(40)],
        "label": [i % 2 for i in range(40)],
        "extra": [{"k": i} for i in range(40)],
    })


@pytest.mark.parametrize("name", ["d.jsonl", "d.json", "d.csv", "d.parquet", "d_folder"])
def test_every_format_round_trips_unchanged(tmp_path, small, name):
    data = small.remove_columns("extra") if name.endswith(".csv") else small
    path = save_data(data, tmp_path / name)
    back = load_data(str(path))
    assert back.to_list() == data.to_list()
    assert not list(tmp_path.glob(".*tmp*")), "temporary files must not remain"


def test_save_replaces_existing_folder_atomically(tmp_path, small):
    save_data(small, tmp_path / "out")
    save_data(small.select(range(3)), tmp_path / "out")
    assert load_data(str(tmp_path / "out")).num_rows == 3


def test_folder_of_data_files_is_read_by_datasets_load_dataset(tmp_path):
    # not a save_to_disk folder: datasets.load_dataset infers the builder and the splits from the file names
    folder = tmp_path / "mydata"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\na,0\nb,1\n", encoding="utf-8")
    (folder / "test.csv").write_text("text,label\nc,1\n", encoding="utf-8")
    assert load_data(str(folder)).to_list() == [{"text": "a", "label": 0}, {"text": "b", "label": 1}]
    assert load_data(str(folder), split="test").to_list() == [{"text": "c", "label": 1}]
    with pytest.raises(DataprunerError, match="^cannot read .*mydata with datasets.load_dataset: .*validation"):
        load_data(str(folder), split="validation")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataprunerError, match="doesn't contain any data files"):
        load_data(str(empty))
    ds = load_data(datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a"]})}))
    assert ds.num_rows == 1


def test_hub_names_with_an_owner_go_to_datasets_load_dataset(tmp_path, monkeypatch):
    # offline here: the name reaches load_dataset (not rejected as a path) and fails in one line, at once
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataprunerError, match=r"^cannot read no-such-owner/no-such-set \(there is no local file or "
                                              r"folder of that name\) with datasets.load_dataset: "):
        load_data("no-such-owner/no-such-set")
    with pytest.raises(DataprunerError, match="use a .jsonl/.json/.csv/.parquet file, a folder or a dataset name"):
        load_data(str(tmp_path / "missing" / "folder"))
    (tmp_path / "data").mkdir()  # "data/trian" names a local folder's child, not a Hub dataset: no Hub round trip
    with pytest.raises(DataprunerError, match="^data/trian does not exist"):
        load_data("data/trian")


def test_unreadable_inputs(tmp_path):
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes('{"text": "caf\xe9"}\n'.encode("latin-1"))
    with pytest.raises(DataprunerError, match="not valid UTF-8"):
        load_data(str(latin))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataprunerError, match="empty"):
        load_data(str(empty))
    with pytest.raises(DataprunerError, match="does not exist"):
        load_data(str(tmp_path / "missing.parquet"))
    with pytest.raises(DataprunerError, match="unknown extension"):
        save_data(datasets.Dataset.from_dict({"a": [1]}), tmp_path / "x.xlsx")


def test_fingerprint_follows_content(small):
    assert data_fingerprint(small) == data_fingerprint(small.map(lambda r: r))
    assert data_fingerprint(small) != data_fingerprint(small.select(range(39)))
    assert data_fingerprint(small.select([1, 0])) != data_fingerprint(small.select([0, 1]))


def test_scores_file_round_trip_and_checks(tmp_path):
    path = write_scores(tmp_path / "s.parquet", [0.3, 0.1], meta={"method": "random", "n_rows": 2})
    scores, meta = read_scores(path)
    np.testing.assert_array_equal(scores, [0.3, 0.1])
    assert meta["method"] == "random"
    with pytest.raises(DataprunerError, match="NaN"):
        write_scores(tmp_path / "n.parquet", [0.1, float("nan")], meta={})


def test_select_keeps_rows_unchanged_in_input_order(small):
    selection = datapruner.select_rows(small, method="random", keep=0.25, seed=3)
    assert selection.dataset.num_rows == 10
    assert selection.dataset.to_list() == [small[int(i)] for i in selection.indices]
    assert list(selection.indices) == sorted(selection.indices)
    assert selection.report["per_class"]["0"]["before"] == 20
    again = datapruner.select(small, method="random", keep=0.25, seed=3)
    assert again.to_list() == selection.dataset.to_list()


def test_scores_are_reused_and_checked(tmp_path, small):
    scores_path = tmp_path / "s.parquet"
    first = datapruner.select_rows(small, method="random", keep=0.5, scores=scores_path, seed=1)
    assert scores_path.exists()
    reused = datapruner.select_rows(small, method="random", keep=0.5, scores=scores_path, seed=99)
    np.testing.assert_array_equal(first.scores, reused.scores)  # seed 99 would give other scores
    scorer_params = reused.report["parameters"]["scorer_params"]
    assert scorer_params["seed"] == 1 and scorer_params["scores_file"] == str(scores_path)  # what made them
    proto = tmp_path / "p.parquet"
    datapruner.select_rows(small, method="prototype", keep=0.5, scores=proto, n_clusters=3, model=HashingEmbedder())
    with pytest.raises(DataprunerError, match=r"made with n_clusters=3, not n_clusters=4"):
        datapruner.select_rows(small, method="prototype", keep=0.5, scores=proto, n_clusters=4)
    with pytest.raises(DataprunerError, match="different data"):
        datapruner.select_rows(small.select(range(40)).map(lambda r: {"text": r["text"] + "!"}),
                               method="random", keep=0.5, scores=scores_path)


def test_api_validation_before_work(small):
    with pytest.raises(DataprunerError, match="method="):
        datapruner.select(small, method="nope", keep=0.5)
    with pytest.raises(DataprunerError, match="column 'body'"):
        datapruner.select(small, method="random", keep=0.5, text_column="body")
    with pytest.raises(DataprunerError, match="empty"):
        datapruner.select(small.select([]), method="random", keep=0.5)
    with pytest.raises(DataprunerError, match="balanced"):
        datapruner.select(small, method="random", keep=0.5, strategy="balanced", label_column=None)
    with pytest.raises(DataprunerError, match=r"strategy 'offset' has no option 'ofset': its options are \['offset'\]"):
        datapruner.select_rows(small, method="random", keep=0.25, strategy="offset", strategy_params={"ofset": 0.5})
    for bad_seed in (-1, 1.5, True, 2**63):
        with pytest.raises(DataprunerError, match=r"seed=.* is not valid: use an integer in \[0, 2\*\*63 - 1\]"):
            datapruner.select(small, method="random", keep=0.5, seed=bad_seed)
    with pytest.raises(DataprunerError, match="data of type list is not valid"):
        datapruner.select([{"text": "a"}], method="random", keep=0.5)


def test_csv_texts_that_look_missing_stay_texts(tmp_path):
    rows = datasets.Dataset.from_dict({"text": ["NA", "null", "None", "ok", None], "label": [1, 0, 1, 0, 1]})
    save_data(rows, tmp_path / "t.csv")
    assert load_data(str(tmp_path / "t.csv"))["text"] == ["NA", "null", "None", "ok", None]  # empty cell: missing



def test_csv_numbers_with_leading_zeros_stay_texts(tmp_path, capsys):
    # pandas read "00005" as 5: select wrote 5, and a subset read back matched no training row
    path = tmp_path / "d.csv"
    path.write_text("text,label,zip,id,x,code\n" + "".join(
        f"t{i},{i % 2},{i:05d},{i},{i / 4},{'-0' if i == 3 else ''}{i}\n" for i in range(8)), encoding="utf-8")
    rows = load_data(str(path))
    assert rows["zip"] == [f"{i:05d}" for i in range(8)] and rows["code"][2:4] == ["2", "-03"]
    assert rows["id"] == list(range(8)) and rows["label"] == [0, 1] * 4 and rows["x"][1] == 0.25  # numbers stay
    out = tmp_path / "k.csv"
    assert main(["select", "--data", str(path), "--method", "random", "--keep", "0.5", "--out", str(out)]) == 0
    assert all(line.split(",")[2] == f"{int(line.split(',')[3]):05d}" for line in out.read_text().splitlines()[1:])
    assert load_data(str(out))["zip"] == [f"{i:05d}" for i in load_data(str(out))["id"]]


@pytest.mark.parametrize("name,column,kind", [
    ("d.jsonl", "blob", "bytes"), ("d.json", "blob", "bytes"), ("d.csv", "blob", "bytes"),
    ("d.csv", "meta", "lists or structs"), ("d.csv", "tags", "lists or structs"), ("d.jsonl", "image", "bytes"),
])
def test_save_refuses_columns_the_format_cannot_hold(tmp_path, name, column, kind):
    # bytes crashed JSON with UnicodeDecodeError; CSV wrote b'..' and {'a': 0} reprs that read back as texts
    values = {"blob": [b"\x00\xff"], "meta": [{"a": 0}], "tags": [[1, 2]],
              "image": [{"bytes": b"\x89PNG", "path": None}]}
    features = datasets.Features({"text": datasets.Value("string"), column: datasets.Image()}) \
        if column == "image" else None
    rows = datasets.Dataset.from_dict({"text": ["a"], column: values[column]}, features=features)
    with pytest.raises(DataprunerError, match=f"column '{column}' holds {kind} .*which {name[1:]} cannot hold"):
        save_data(rows, tmp_path / name)
    assert not list(tmp_path.iterdir())


def test_save_writes_json_times_without_loss(tmp_path):
    import pyarrow as pa

    when = [datetime.datetime(2020, 1, 1, 12, 0, 0, 123456)]
    rows = datasets.Dataset(pa.table({"ts": pa.array(when, pa.timestamp("us")),
                                      "ns": pa.array([1_000_000_001], pa.timestamp("ns"))}))
    save_data(rows.select_columns(["ts"]), tmp_path / "t.jsonl")  # was epoch ms: 1577880000123
    assert json.loads((tmp_path / "t.jsonl").read_text()) == {"ts": "2020-01-01T12:00:00.123456"}
    save_data(rows, tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text()) == [{"ts": "2020-01-01T12:00:00.123456000",
                                                             "ns": "1970-01-01T00:00:01.000000001"}]


def test_cli_select_refuses_an_out_that_cannot_hold_a_column_before_scoring(tmp_path, capsys):
    data = tmp_path / "d.parquet"
    save_data(datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(8)], "label": [0, 1] * 4,
                                          "blob": [b"\xff"] * 8}), data)
    scores = tmp_path / "s.parquet"
    argv = ["select", "--data", str(data), "--method", "random", "--keep", "0.5", "--scores", str(scores)]
    assert main([*argv, "--out", str(tmp_path / "k.jsonl")]) == 2
    assert capsys.readouterr().err.strip() == ("datapruner: error: column 'blob' holds bytes (binary), which .jsonl "
                                               "cannot hold: drop the column, or write .parquet or a folder.")
    assert not scores.exists() and not (tmp_path / "k.jsonl").exists()  # refused before the scores were made
    assert main([*argv, "--out", str(tmp_path / "k.parquet")]) == 0

def test_report_records_the_scorer_parameters_fresh_or_reused(tmp_path):
    reports = []
    for _ in range(2):  # the second run reuses the scores file the first wrote
        assert main(["select", "--data", str(FIXTURE), "--method", "random", "--keep", "0.5", "--out",
                     str(tmp_path / "k.jsonl"), "--scores", str(tmp_path / "s.parquet"), "--seed", "3", "--report",
                     str(tmp_path / "r.json")]) == 0
        reports.append(json.loads((tmp_path / "r.json").read_text())["parameters"])
    assert reports[0] == reports[1]
    assert reports[0]["scorer_params"] == {"seed": 3, "scores_file": str(tmp_path / "s.parquet")}
    assert reports[0]["split"] == "train"


def test_demo_output_that_cannot_be_a_folder_is_one_line(tmp_path, capsys):
    from datapruner.demo import main as demo_main

    (tmp_path / "demo_output").write_text("a file")
    assert demo_main(["--method", "random", "--output-dir", str(tmp_path / "demo_output")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "is a file, not a folder" in err[0]


def test_a_pandas_dataframe_is_data(small):
    frame = small.to_pandas()
    kept = datapruner.select(frame, method="random", keep=0.5, seed=3)
    assert kept.to_list() == datapruner.select(small, method="random", keep=0.5, seed=3).to_list()


def test_outputs_get_a_normal_file_mode(tmp_path, small):
    import os

    old = os.umask(0o022)
    try:
        save_data(small, tmp_path / "kept.jsonl")
    finally:
        os.umask(old)
    assert (tmp_path / "kept.jsonl").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("out_name", ["kept.jsonl", "kept.json", "kept.csv", "kept.parquet", "kept_dir"])
def test_cli_select_every_output_format(tmp_path, out_name):
    out = tmp_path / out_name
    report = tmp_path / "report.json"
    before = FIXTURE.read_bytes()
    code = main(["select", "--data", str(FIXTURE), "--method", "random", "--keep", "0.3", "--out", str(out),
                 "--strategy", "balanced", "--report", str(report)])
    assert code == 0
    assert FIXTURE.read_bytes() == before, "the input must never be modified"
    kept = load_data(str(out))
    assert kept.num_rows == 60 and kept.column_names == ["text", "label", "is_noisy"]
    payload = json.loads(report.read_text())
    assert payload["rows_in"] == 200 and payload["rows_out"] == 60
    assert payload["per_class"]["0"]["after"] == payload["per_class"]["1"]["after"] == 30
    assert {"parameters", "scores", "timings_s"} <= payload.keys()


def test_cli_score_then_select_reuses_scores(tmp_path):
    scores = tmp_path / "s.parquet"
    assert main(["score", "--data", str(FIXTURE), "--method", "random", "--out", str(scores), "--seed", "4"]) == 0
    assert main(["select", "--data", str(FIXTURE), "--method", "random", "--keep", "0.5", "--scores", str(scores),
                 "--out", str(tmp_path / "a.jsonl")]) == 0
    values, meta = read_scores(scores)
    assert meta["params"]["seed"] == 4 and values.size == 200


def test_cli_strategy_params_reach_the_strategy(tmp_path):
    def kept(*extra: str) -> list[int]:
        out = tmp_path / "k.jsonl"
        assert main(["select", "--data", str(FIXTURE), "--method", "random", "--keep", "0.2", "--out", str(out),
                     "--report", str(tmp_path / "r.json"), *extra]) == 0
        return [json.loads(line)["text"] for line in out.read_text().splitlines()]

    assert kept("--strategy", "offset") != kept("--strategy", "offset", "--strategy-param", "offset=0.5")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["parameters"]["strategy_params"] == {"offset": 0.5}
    assert kept("--strategy", "ccs", "--strategy-param", "beta=0.3", "--strategy-param", "n_bins=5")


BAD_CASES = {
    "missing file": (["--data", "{tmp}/nope.jsonl"], "does not exist"),
    "missing column": (["--data", "{fixture}", "--text-column", "body"], "column 'body'"),
    "keep above 1": (["--data", "{fixture}", "--keep", "1.5"], "keep=1.5"),
    "keep zero": (["--data", "{fixture}", "--keep", "0"], "keep=0.0"),
    "unknown method": (["--data", "{fixture}", "--method", "magic"], "method='magic'"),
    "empty dataset": (["--data", "{tmp}/empty.jsonl"], "empty"),
    "bad encoding": (["--data", "{tmp}/latin.csv"], "UTF-8"),
    "nan scores": (["--data", "{fixture}", "--scores", "{tmp}/nan.parquet"], "NaN"),
    "balanced without labels": (["--data", "{fixture}", "--strategy", "balanced", "--label-column", "none"],
                                "needs labels"),
    "misspelt strategy option": (["--data", "{fixture}", "--strategy", "offset", "--strategy-param", "ofset=0.2"],
                                 "strategy 'offset' has no option 'ofset'"),
    "strategy option without '='": (["--data", "{fixture}", "--strategy-param", "offset"],
                                    "--strategy-param 'offset' is not valid: use KEY=VALUE"),
    # a --param named like an argument the command passes itself was passed twice: a TypeError traceback
    "--param seed": (["--data", "{fixture}", "--param", "seed=3"], "--param seed is not valid: use --seed."),
    "--param keep": (["--data", "{fixture}", "--param", "keep=0.2"], "--param keep is not valid: use --keep."),
    "--param text_column": (["--data", "{fixture}", "--param", "text_column=x"],
                            "--param text_column is not valid: use --text-column."),
    "--param strategy_params": (["--data", "{fixture}", "--param", "strategy_params=1"],
                                "--param strategy_params is not valid: use --strategy-param."),
    "seed above 2**63 - 1": (["--data", "{fixture}", "--seed", str(2**64)], "seed=18446744073709551616 is not valid"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_cli_bad_input_one_line_exit_2(tmp_path, capsys, case):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "latin.csv").write_bytes("text,label\ncaf\xe9,1\n".encode("latin-1"))
    pq.write_table(pa.table({"row_id": np.arange(200), "score": np.full(200, np.nan)}), tmp_path / "nan.parquet")
    args, expected = BAD_CASES[case]
    args = [a.format(tmp=tmp_path, fixture=FIXTURE) for a in args]
    argv = ["select", "--method", "random", "--keep", "0.5", "--out", str(tmp_path / "out.jsonl")]
    for flag, value in zip(args[::2], args[1::2]):  # later flags override the defaults above
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("datapruner: error:") and expected in err[0]
    assert not (tmp_path / "out.jsonl").exists(), "no output may appear on failure"


@pytest.mark.parametrize("param,flag", [("seed=3", "--seed"), ("out=x.parquet", "--out"), ("engine=ray", "--engine"),
                                        ("label_column=y", "--label-column"), ("method=el2n", "--method")])
def test_cli_score_refuses_a_param_named_like_its_own_option(tmp_path, capsys, param, flag):
    out = tmp_path / "s.parquet"
    assert main(["score", "--data", str(FIXTURE), "--method", "random", "--out", str(out), "--param", param]) == 2
    name = param.partition("=")[0]
    assert capsys.readouterr().err.strip() == f"datapruner: error: --param {name} is not valid: use {flag}."
    assert not out.exists()


def test_select_rows_refuses_out_among_scorer_parameters(small):
    # out was passed on to score next to its own out=: a TypeError after loading the data
    with pytest.raises(DataprunerError, match="out is not a parameter of select_rows: pass scores="):
        datapruner.select_rows(small, method="random", keep=0.5, out="s.parquet")

def test_cli_subprocess_smoke(tmp_path):
    out = tmp_path / "kept.parquet"
    ok = subprocess.run([sys.executable, "-m", "datapruner.cli.main", "select", "--data", str(FIXTURE),
                         "--method", "random", "--keep", "0.1", "--out", str(out)],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert load_data(str(out)).num_rows == 20
    bad = subprocess.run([sys.executable, "-m", "datapruner.cli.main", "select", "--data", str(tmp_path / "x.jsonl"),
                          "--method", "random", "--keep", "0.1", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_issue_9_header_only_csv_and_score_extension_checked_before_work(tmp_path, capsys):
    header_only = tmp_path / "h.csv"
    header_only.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataprunerError, match="no rows"):
        load_data(str(header_only))
    assert main(["score", "--data", str(FIXTURE), "--method", "random", "--out", str(tmp_path / "s.csv")]) == 2
    assert ".parquet" in capsys.readouterr().err
