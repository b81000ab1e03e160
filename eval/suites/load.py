"""Load test of ``ragprune serve`` on loopback: throughput and p50/p95 latency at 1, 8 and 32 clients (issue 7).

The suite starts the real service (``python -m ragprune.cli.main serve``) on 127.0.0.1 and a free port, once with
micro-batching (the default: up to 32 requests, 5 ms) and once without (``--max-batch-size 1``), and drives each
with N concurrent clients (asyncio + httpx) for a fixed time per level. A request is one SQuAD v1.1 dev question
with 5 passages of its article (the gold paragraph and 4 others, shuffled with the seed). The run is bounded: a
startup deadline, a fixed duration per level, a client timeout, then SIGTERM (the server must exit 0).

Model: ``--model``; else, in a full run, the default checkpoint when it exists, else the base all-MiniLM-L6-v2
encoder with untrained heads written to a temporary checkpoint (the same architecture and cost, so throughput
and latency are representative, but the pruned text is not); in a ``--quick`` run, a tiny random 2-layer model
(it checks the harness and the service overhead, not model cost).
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from eval.data_root import data_file
from eval.errors import EvalError

logger = logging.getLogger(__name__)

SQUAD = "squad/squad_v1.1_dev.json.gz"
#: (full, quick) seconds of measurement per concurrency level.
DURATION = (20.0, 5.0)
STARTUP_DEADLINE_S = 300.0
CLIENT_TIMEOUT_S = 600.0
CONFIGS = {
    "batched": ["--max-batch-size", "32", "--batch-wait-ms", "5"],
    "unbatched": ["--max-batch-size", "1", "--batch-wait-ms", "0"],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options."""
    parser.add_argument("--model", default=None,
                        help="checkpoint folder (default: ragprune's default checkpoint, else MiniLM + untrained heads)")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts (default: 1,8,32)")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds of load per level (default: 20, quick: 5)")
    parser.add_argument("--contexts", type=int, default=5, help="passages per request (default: 5)")
    parser.add_argument("--requests", type=int, default=200, help="distinct requests built from SQuAD (default: 200)")
    parser.add_argument("--num-threads", type=int, default=1,
                        help="torch threads of the served model (default: 1, best on a shared CPU machine)")
    parser.add_argument("--configs", default="batched,unbatched",
                        help=f"service configurations to run, from {sorted(CONFIGS)} (default: both)")


def _build_requests(data_root: Path, n: int, n_contexts: int, seed: int) -> list[dict[str, Any]]:
    path = data_file(data_root, SQUAD)
    try:
        squad = json.loads(gzip.open(path, "rt", encoding="utf-8").read())
    except (OSError, ValueError) as err:
        raise EvalError(f"{path} could not be read as SQuAD JSON: {err}") from err
    rng = random.Random(seed)
    pool = []
    for article in squad["data"]:
        paragraphs = [p["context"] for p in article["paragraphs"]]
        if len(paragraphs) < n_contexts:
            continue
        for i, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                pool.append((qa["question"], i, paragraphs))
    if not pool:
        raise EvalError(f"{path} has no article with {n_contexts} paragraphs.")
    rng.shuffle(pool)
    requests = []
    for question, gold, paragraphs in pool[:n]:
        others = rng.sample([j for j in range(len(paragraphs)) if j != gold], n_contexts - 1)
        ids = others + [gold]
        rng.shuffle(ids)
        requests.append({"question": question, "contexts": [paragraphs[j] for j in ids]})
    return requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _resolve_model(model: str | None, workdir: Path, quick: bool) -> tuple[str, str]:
    """Return (checkpoint folder, description)."""
    if model is not None:
        if not Path(model).is_dir():
            raise EvalError(f"--model={model!r} is not a folder: pass a checkpoint folder.")
        return str(model), f"checkpoint {model}"
    from ragprune.sentence.model import (DEFAULT_CHECKPOINT, build_pruner_model, build_tiny_pruner_model,
                                         save_pruner_model)

    if quick:
        model_, tokenizer = build_tiny_pruner_model(seed=0)
        folder = save_pruner_model(model_, tokenizer, workdir / "tiny", base_model=None,
                                   config={"max_length": 256, "threshold": 0.5})
        return str(folder), "tiny random 2-layer BERT (quick run: harness and service overhead, not model cost)"

    if (Path(DEFAULT_CHECKPOINT) / "config.json").exists():
        return str(DEFAULT_CHECKPOINT), "the default checkpoint"
    model_, tokenizer = build_pruner_model(None, seed=0)
    folder = save_pruner_model(model_, tokenizer, workdir / "minilm-untrained-heads",
                               config={"max_length": 512, "threshold": 0.5})
    return str(folder), "all-MiniLM-L6-v2 with untrained heads (no default checkpoint yet): cost only"


class _Server:
    """The service as a subprocess: started, waited for, stopped with SIGTERM (bounded everywhere)."""

    def __init__(self, model: str, extra: list[str], log_path: Path, num_threads: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-m", "ragprune.cli.main", "serve", "--port", str(self.port), "--model", model,
               "--timeout", str(CLIENT_TIMEOUT_S), "--max-passages", "64", "--log-level", "warning", "--num-threads", str(num_threads), *extra]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        self.exit_code: int | None = None

    def wait_ready(self) -> float:
        import httpx

        started = time.perf_counter()
        while time.perf_counter() - started < STARTUP_DEADLINE_S:
            if self.proc.poll() is not None:
                raise EvalError(f"the service exited with {self.proc.returncode} while starting (see {self.log.name}).")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        raise EvalError(f"the service did not answer /health within {STARTUP_DEADLINE_S:.0f} s.")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.exit_code = self.proc.returncode
        self.log.close()
        return self.exit_code


async def _drive(url: str, requests: list[dict[str, Any]], clients: int, duration: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    fallbacks = 0
    started = time.perf_counter()
    deadline = started + duration
    last_done = started

    async def worker(k: int, client: httpx.AsyncClient) -> None:
        nonlocal fallbacks, last_done
        i = k
        while time.perf_counter() < deadline:
            body = requests[i % len(requests)]
            i += clients
            t0 = time.perf_counter()
            try:
                response = await client.post("/prune", json=body)
                key = str(response.status_code)
                if response.status_code == 200 and "fallback" in response.json():
                    fallbacks += 1
            except httpx.HTTPError as err:
                key = type(err).__name__
            t1 = time.perf_counter()
            statuses[key] = statuses.get(key, 0) + 1
            if key == "200":
                latencies.append(t1 - t0)
                last_done = max(last_done, t1)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT_S, limits=limits) as client:
        await asyncio.gather(*(worker(k, client) for k in range(clients)))
    elapsed = max(last_done - started, 1e-9)
    lat = np.asarray(latencies) * 1000.0
    ok = len(latencies)
    return {
        "clients": clients, "duration_s": round(elapsed, 3), "ok": ok, "statuses": statuses, "fallbacks": fallbacks,
        "throughput_rps": round(ok / elapsed, 3),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if ok else None,
        "p95_ms": round(float(np.percentile(lat, 95)), 1) if ok else None,
        "mean_ms": round(float(lat.mean()), 1) if ok else None,
    }


def _health(url: str) -> dict[str, Any]:
    import httpx

    return httpx.get(url + "/health", timeout=10).json()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the load test; return the results dict."""
    try:
        levels = [int(x) for x in str(args.concurrency).split(",") if x.strip()]
    except ValueError as err:
        raise EvalError(f"--concurrency={args.concurrency!r} is not valid: use integers like 1,8,32.") from err
    if not levels or min(levels) < 1:
        raise EvalError(f"--concurrency={args.concurrency!r} is not valid: use positive integers like 1,8,32.")
    configs = [c.strip() for c in str(args.configs).split(",") if c.strip()]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown or not configs:
        raise EvalError(f"--configs={args.configs!r} is not valid: use names from {sorted(CONFIGS)}.")
    if args.contexts < 1 or args.requests < 1:
        raise EvalError("--contexts and --requests must be positive integers.")
    duration = args.duration if args.duration is not None else DURATION[1 if args.quick else 0]
    if duration <= 0:
        raise EvalError(f"--duration={duration} is not valid: use a positive number of seconds.")
    requests = _build_requests(Path(args.data_root), args.requests, args.contexts, args.seed)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    load_before = os.getloadavg()
    runs: list[dict[str, Any]] = []
    shutdowns: dict[str, int | None] = {}
    startup: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ragprune-load-") as tmp:
        model, model_note = _resolve_model(args.model, Path(tmp), args.quick)
        for name in configs:
            server = _Server(model, CONFIGS[name], Path(tmp) / f"serve-{name}.log", args.num_threads)
            try:
                startup[name] = round(server.wait_ready(), 2)
                asyncio.run(_drive(server.url, requests[:4], 1, 0.5))  # warm-up, not counted
                for clients in levels:
                    before = _health(server.url)
                    logger.info("load: %s, %d client(s), %.0f s", name, clients, duration)
                    result = asyncio.run(_drive(server.url, requests, clients, duration))
                    after = _health(server.url)
                    batches = after["batches"] - before["batches"]
                    result.update(config=name, batches=batches,
                                  mean_batch=round(result["ok"] / batches, 2) if batches else None,
                                  max_batch_seen=after["max_batch_seen"])
                    runs.append(result)
                    logger.info("  %s", result)
            finally:
                shutdowns[name] = server.stop()
                log_tail = Path(server.log.name).read_text(encoding="utf-8", errors="replace")[-2000:]
                if shutdowns[name] != 0:
                    logger.warning("server %s exited with %s; log tail:\n%s", name, shutdowns[name], log_tail)
    load_after = os.getloadavg()

    rows = [[r["config"], r["clients"], r["ok"], r["throughput_rps"], r["p50_ms"], r["p95_ms"], r["mean_batch"],
             sum(v for k, v in r["statuses"].items() if k != "200"), r["fallbacks"]] for r in runs]
    by = {(r["config"], r["clients"]): r for r in runs}
    verdicts = []
    for clients in levels:
        b, u = by.get(("batched", clients)), by.get(("unbatched", clients))
        if b and u and u["throughput_rps"]:
            verdicts.append(f"{clients} client(s): micro-batching gives {b['throughput_rps']:.2f} req/s vs "
                            f"{u['throughput_rps']:.2f} unbatched (x{b['throughput_rps'] / u['throughput_rps']:.2f}); "
                            f"p95 {b['p95_ms']} ms vs {u['p95_ms']} ms.")
    errors = sum(row[7] for row in rows)
    fallbacks = sum(row[8] for row in rows)
    verdicts.append(f"{errors} failed request(s) and {fallbacks} fail-open fallback(s) over "
                    f"{sum(r['ok'] for r in runs)} answered requests.")
    verdicts.append("clean shutdown on SIGTERM (exit 0): " + ", ".join(f"{k}={v}" for k, v in shutdowns.items()))
    plots = [
        {"file": "throughput.png", "title": "ragprune serve throughput (loopback)", "xlabel": "concurrent clients",
         "ylabel": "requests / s", "xscale": "log",
         "series": [{"label": name, "x": [r["clients"] for r in runs if r["config"] == name],
                     "y": [r["throughput_rps"] for r in runs if r["config"] == name]} for name in configs]},
        {"file": "latency_p95.png", "title": "ragprune serve latency (loopback)", "xlabel": "concurrent clients",
         "ylabel": "ms", "xscale": "log",
         "series": [{"label": f"{name} {q}", "x": [r["clients"] for r in runs if r["config"] == name],
                     "y": [r[f"{q}_ms"] for r in runs if r["config"] == name], "style": style}
                    for name in configs for q, style in (("p50", "-o"), ("p95", "--s"))]},
    ]
    return {
        "config": {"model": model_note, "levels": levels, "duration_s": duration, "contexts_per_request": args.contexts,
                   "distinct_requests": len(requests), "configs": {k: CONFIGS[k] for k in configs},
                   "data": SQUAD, "client": "httpx.AsyncClient, one process, same machine",
                   "server_timeout_s": CLIENT_TIMEOUT_S, "num_threads": args.num_threads},
        "seed": args.seed,
        "tables": [{"title": "Throughput and latency per configuration and concurrency",
                    "columns": ["config", "clients", "answered", "req/s", "p50 ms", "p95 ms", "mean batch",
                                "errors", "fallbacks"], "rows": rows}],
        "plots": plots,
        "verdicts": verdicts,
        "notes": [f"model: {model_note}",
                  f"machine: {os.cpu_count()} CPU cores shared with other jobs; load average before "
                  f"{load_before[0]:.1f}, after {load_after[0]:.1f} (numbers are noisy under shared load)",
                  "each request = 1 SQuAD v1.1 dev question + its gold paragraph + 4 other paragraphs of the article; "
                  "latency = client-side wall time of one /prune call; req/s = answered requests / time to the last "
                  "answer"],
        "runs": runs,
        "startup_s": startup,
        "shutdown_exit_codes": shutdowns,
        "load_average": {"before": list(load_before), "after": list(load_after)},
    }
