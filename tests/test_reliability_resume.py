"""Issue 9 reliability: a scoring run killed with SIGKILL halfway resumes from its checkpoint, recomputes nothing
that was finished, and produces byte-identical scores.

Each run is a real subprocess killed with ``SIGKILL`` (no handler, no cleanup) once half of its checkpoints are on
disk. What a run computes is logged by the run itself (one line per embedding chunk / score block), so the test
sees exactly what the rerun recomputed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CHUNK = 4096  # rows per embedding-cache chunk (column_features' default)
N_CHUNKS = 6

SCORE_SCRIPT = textwrap.dedent("""
    import sys, time, zlib
    import numpy as np
    import datapruner

    class SlowEmbedder:
        identity = "slow-fake-embedder-16"

        def __init__(self, log, delay):
            self.log, self.delay = log, delay

        def encode(self, texts):
            with open(self.log, "a") as fh:          # which chunk is being computed: its first row's text
                fh.write(texts[0] + "\\n")
            time.sleep(self.delay)
            out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=16) for t in texts])
            return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

        def __repr__(self):
            return "SlowEmbedder()"

    data, out, log, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    datapruner.score(data, method="prototype", label_column=None, model=SlowEmbedder(log, delay),
                     n_clusters=8, seed=0, out=out)
""")

OUTOFCORE_SCRIPT = textwrap.dedent("""
    import sys, time
    from datapruner._memmap import score_embeddings_file

    src, out, log, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    def progress(start, end):
        with open(log, "a") as fh:
            fh.write(f"{start}\\n")
        time.sleep(delay)

    score_embeddings_file(src, out=out, n_clusters=16, seed=0, block_rows=2000, progress=progress)
""")


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DATAPRUNER_CACHE"] = str(cache)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(script: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def _kill_when(script: str, args: list[str], env: dict[str, str], ready, timeout: float = 240) -> None:
    """Start the script and SIGKILL it as soon as ``ready()`` is true; fail if it finishes first."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the run did not reach the kill point in time")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_issue_9_sigkill_during_scoring_resumes_and_gives_identical_scores(tmp_path):
    data = tmp_path / "train.jsonl"
    n = CHUNK * N_CHUNKS
    data.write_text("".join(f'{{"text": "row {i} of the corpus"}}\n' for i in range(n)))
    cache = tmp_path / "cache"
    out = tmp_path / "scores.parquet"

    def chunks_on_disk() -> set[str]:
        return {p.name for p in cache.glob("embeddings/*/chunks/*.npy")}

    _kill_when(SCORE_SCRIPT, [str(data), str(out), str(tmp_path / "run1.log"), "0.4"], _env(cache),
               ready=lambda: len(chunks_on_disk()) >= N_CHUNKS // 2)
    finished = chunks_on_disk()
    assert N_CHUNKS // 2 <= len(finished) < N_CHUNKS
    assert not out.exists()  # no partial output
    assert not list(tmp_path.glob("*.parquet*"))

    rerun = _run(SCORE_SCRIPT, [str(data), str(out), str(tmp_path / "run2.log"), "0"], _env(cache))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    starts_finished = {int(name.split("_")[0]) for name in finished}
    recomputed = {int(line.split()[1]) for line in _lines(tmp_path / "run2.log")}
    assert recomputed.isdisjoint(starts_finished)  # nothing finished is computed again
    assert recomputed | starts_finished == set(range(0, n, CHUNK))  # and everything missing is

    reference = tmp_path / "reference.parquet"
    clean = _run(SCORE_SCRIPT, [str(data), str(reference), str(tmp_path / "ref.log"), "0"],
                 _env(tmp_path / "fresh_cache"))
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert len(_lines(tmp_path / "ref.log")) == N_CHUNKS
    assert out.read_bytes() == reference.read_bytes()


def test_issue_9_sigkill_during_out_of_core_scoring_resumes_block_by_block(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "emb.npy"
    np.save(src, rng.normal(size=(20000, 32)).astype(np.float32))
    out = tmp_path / "scores.npy"
    log1, log2 = tmp_path / "run1.log", tmp_path / "run2.log"

    _kill_when(OUTOFCORE_SCRIPT, [str(src), str(out), str(log1), "0.3"], _env(tmp_path / "c"),
               ready=lambda: len(_lines(log1)) >= 5)
    assert not out.exists()
    import json

    checkpoint = json.loads((tmp_path / "scores.npy.progress.json").read_text())
    written = {b * 2000 for b in checkpoint["done"]}  # the blocks the killed run had written and checkpointed
    assert {int(x) for x in _lines(log1)} <= written and 5 <= len(written) < 10
    rerun = _run(OUTOFCORE_SCRIPT, [str(src), str(out), str(log2), "0"], _env(tmp_path / "c"))
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    recomputed = {int(x) for x in _lines(log2)}
    assert recomputed.isdisjoint(written)
    assert recomputed | written == set(range(0, 20000, 2000))

    reference = tmp_path / "reference.npy"
    clean = _run(OUTOFCORE_SCRIPT, [str(src), str(reference), str(tmp_path / "ref.log"), "0"], _env(tmp_path / "c"))
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert out.read_bytes() == reference.read_bytes()
    assert not list(tmp_path.glob("scores.npy.*"))  # checkpoint files are gone once the output is complete


def test_out_of_core_scores_equal_the_in_memory_scorer(tmp_path):
    from datapruner import DataprunerError
    from datapruner._memmap import NpyRows, score_embeddings_file
    from datapruner.scorers import get_scorer

    rng = np.random.default_rng(1)
    x = rng.normal(size=(70_001, 12)).astype(np.float32)  # two blocks, the second one short
    np.save(tmp_path / "x.npy", x)
    report = score_embeddings_file(tmp_path / "x.npy", out=tmp_path / "s.npy", n_clusters=9, seed=4)
    assert report == {"n_rows": 70_001, "blocks_total": 2, "blocks_computed": 2, "blocks_resumed": 0}
    expected = get_scorer("prototype", n_clusters=9, seed=4).score_embeddings(x)
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), expected)
    idx = np.sort(rng.choice(70_001, size=300, replace=False))
    np.testing.assert_array_equal(NpyRows(tmp_path / "x.npy").take(idx, block_rows=4096), x[idx])
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    with pytest.raises(DataprunerError, match="not a .npy file"):
        score_embeddings_file(tmp_path / "bad.npy", out=tmp_path / "o.npy")
    with pytest.raises(DataprunerError, match="does not exist"):
        score_embeddings_file(tmp_path / "missing.npy", out=tmp_path / "o.npy")
