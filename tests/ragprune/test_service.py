"""``ragprune serve``: the HTTP service end to end over real uvicorn on 127.0.0.1 (issue 7)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import httpx  # noqa: E402
import uvicorn  # noqa: E402

from ragprune.cli.main import main  # noqa: E402
from ragprune.errors import RagpruneError  # noqa: E402
from ragprune.service.app import ServiceConfig, create_app  # noqa: E402
from tests.ragprune._middleware_fakes import BERLIN, CATS, PARIS, QUESTION, FakePruner  # noqa: E402


@contextlib.contextmanager
def serving(pruner: Any, **config: Any) -> Iterator[str]:
    """Run the app under a real uvicorn server on 127.0.0.1 and a free port; yield its base URL."""
    app = create_app(pruner, config=ServiceConfig(**config))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "the server did not shut down"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving(FakePruner(), max_passages=8, max_body_bytes=4096) as base:
        yield base


def post(url: str, path: str, body: Any) -> httpx.Response:
    return httpx.post(url + path, json=body, timeout=10)


def test_prune_answers_with_the_output_line_shape(url):
    body = {"question": QUESTION, "contexts": [PARIS, CATS, BERLIN], "id": "q1", "meta": {"k": [1]}}
    response = post(url, "/prune", body)
    assert response.status_code == 200
    out = response.json()
    assert {k: out[k] for k in body} == body  # every input field kept
    assert out["pruned"] == ["Paris is the capital of France.", "",
                             "Berlin is the capital of Germany. Germany borders France."]
    assert out["rerank"] == [1.0, 0.0, 0.5]
    assert "fallback" not in out


def test_prune_options_threshold_top_k_budget_min_kept(url):
    contexts = [PARIS, CATS, BERLIN]
    assert post(url, "/prune", {"question": QUESTION, "contexts": contexts, "threshold": 0.0}).json()["pruned"] == contexts
    out = post(url, "/prune", {"question": QUESTION, "contexts": contexts, "top_k": 1}).json()
    assert out["pruned"] == ["Paris is the capital of France.", "", ""] and out["top_k"] == 1
    out = post(url, "/prune", {"question": QUESTION, "contexts": contexts, "max_tokens": 6}).json()
    assert out["pruned"] == ["Paris is the capital of France.", "", ""]
    # nothing relevant: one context keeps its best sentence unless min_kept=0
    out = post(url, "/prune", {"question": QUESTION, "contexts": [CATS, CATS]}).json()
    assert sum(bool(p) for p in out["pruned"]) == 1
    out = post(url, "/prune", {"question": QUESTION, "contexts": [CATS, CATS], "min_kept": 0}).json()
    assert out["pruned"] == ["", ""]
    assert post(url, "/prune", {"question": QUESTION, "contexts": []}).json()["pruned"] == []


def test_rerank_and_health(url):
    out = post(url, "/rerank", {"question": QUESTION, "contexts": [PARIS, CATS], "id": 3}).json()
    assert out == {"question": QUESTION, "contexts": [PARIS, CATS], "id": 3, "rerank": [1.0, 0.0]}
    health = httpx.get(url + "/health").json()
    assert health["status"] == "ok" and health["requests"] >= 1


@pytest.mark.parametrize("body, where", [
    ({"contexts": [PARIS]}, "question"),
    ({"question": "  ", "contexts": [PARIS]}, "question"),
    ({"question": QUESTION, "contexts": PARIS}, "contexts"),
    ({"question": QUESTION, "contexts": [PARIS, 3]}, "contexts.1"),
    ({"question": 5, "contexts": [PARIS]}, "question"),
    ({"question": QUESTION, "contexts": [PARIS], "threshold": 1.5}, "threshold"),
    ({"question": QUESTION, "contexts": [PARIS], "threshold": "0.5"}, "threshold"),
    ({"question": QUESTION, "contexts": [PARIS], "max_tokens": 0}, "max_tokens"),
    ({"question": QUESTION, "contexts": [PARIS], "min_kept": -1}, "min_kept"),
    ([QUESTION, PARIS], "body"),
])
def test_schema_violations_get_422_with_one_line_error(url, body, where):
    response = post(url, "/prune", body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert set(response.json()) == {"error"} and "\n" not in error and error.startswith(where)


def test_invalid_json_and_passage_count_and_body_size(url):
    response = httpx.post(url + "/prune", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "JSON" in response.json()["error"]
    response = post(url, "/prune", {"question": QUESTION, "contexts": ["a."] * 9})
    assert response.status_code == 422 and "max_passages=8" in response.json()["error"]
    response = post(url, "/rerank", {"question": QUESTION, "contexts": ["a."] * 9})
    assert response.status_code == 422
    response = post(url, "/prune", {"question": QUESTION, "contexts": ["x" * 5000]})
    assert response.status_code == 413 and "max_body_bytes=4096" in response.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        yield b'{"question": "q", "contexts": ["'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"]}'
    response = httpx.post(url + "/prune", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("path, raw, where", [
    ("/rerank", b'{"question": "q", "contexts": ["a b."], "x": "\\udc00"}', "body: x is not valid Unicode"),
    ("/prune", b'{"question": "q", "contexts": ["a b."], "meta": {"k": ["\\ud800"]}}', "body: meta.k.0 is not valid"),
    ("/prune", b'{"question": "q", "contexts": ["a b."], "\\ud800": 1}', "body: a key is not valid Unicode"),
    ("/prune", b'{"question": "q\\ud800", "contexts": ["a b."]}', "body: question is not valid Unicode"),
    ("/prune", b'{"question": "q", "contexts": ["a b."], "m": ' + b"[" * 500 + b"]" * 500 + b"}",
     "body: m is nested more than 64 levels"),
    ("/prune", b'{"question": "q", "contexts": ["a b."], "score": NaN}', "body: score is nan: use a finite number"),
    ("/rerank", b'{"question": "q", "contexts": ["a b."], "m": {"x": [1e999]}}', "body: m.x.0 is inf: use a finite"),
])
def test_surrogates_and_deep_nesting_in_any_field_get_422(url, path, raw, where):
    response = httpx.post(url + path, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422 and set(response.json()) == {"error"}
    assert response.json()["error"].startswith(where) and "\n" not in response.json()["error"]


def test_an_integer_too_long_to_read_is_invalid_json_422():
    """Python's json refuses an integer over 4300 digits with a ValueError, which FastAPI answered as a 400."""
    raw = b'{"question": "q", "contexts": ["a"], "id": ' + b"1" * 5000 + b"}"
    with serving(FakePruner(), warmup=False) as base:
        response = httpx.post(base + "/rerank", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json() == {"error": "body is not valid JSON (a number has too many digits)"}


@pytest.mark.parametrize("method, path, raw, status, where", [
    ("POST", "/prune", b'{"question": "q\xff\xfe", "contexts": ["a"]}', 422, "body is not valid JSON (not UTF-8"),
    ("POST", "/prune", b"[" * 2000 + b"]" * 2000, 422, "body is not valid JSON (nested too deeply)"),
    ("GET", "/nowhere", b"", 404, "Not Found"),
    ("GET", "/prune", b"", 405, "Method Not Allowed"),
])
def test_fastapi_errors_use_the_error_body(url, method, path, raw, status, where):
    response = httpx.request(method, url + path, content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status and set(response.json()) == {"error"}
    assert response.json()["error"].startswith(where)
    if status == 405:
        assert response.headers["allow"] == "POST"


def test_curl_example_works_and_a_form_body_gets_415(url):
    from ragprune.cli.serve import EXAMPLES

    argv = shlex.split(next(e for e in EXAMPLES if e.startswith("curl")))
    name, _, value = argv[argv.index("-H") + 1].partition(": ")
    body = argv[argv.index("-d") + 1]
    response = httpx.post(url + "/prune", content=body, headers={name: value})
    assert response.status_code == 200 and response.json()["pruned"] == ["..."]
    for headers in ({"content-type": "application/x-www-form-urlencoded"}, {}):  # what curl -d sends; none at all
        response = httpx.post(url + "/prune", content=body, headers=headers)
        assert response.status_code == 415 and set(response.json()) == {"error"}
        assert "Content-Type: application/json" in response.json()["error"]


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer():
    pruner = FakePruner(delay=0.05)
    questions = [f"Where is museum {i} located?" for i in range(24)]
    contexts = [[f"Museum {i} is located in town {i}. Unrelated words here."] for i in range(24)]

    async def fire(base: str) -> list[dict]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            tasks = [client.post("/prune", json={"question": q, "contexts": c, "n": i})
                     for i, (q, c) in enumerate(zip(questions, contexts))]
            return [r.json() for r in await asyncio.gather(*tasks)]

    with serving(pruner, batch_wait_ms=20, max_batch_size=32) as base:
        answers = asyncio.run(fire(base))
        health = httpx.get(base + "/health").json()
    for i, answer in enumerate(answers):
        assert answer["n"] == i and answer["pruned"] == [f"Museum {i} is located in town {i}."]
    assert health["max_batch_seen"] > 1
    assert health["batches"] < 24
    assert sum(pruner.batch_sizes[1:]) == 24  # the first call is the warm-up


class PickyPruner(FakePruner):
    """Fails any batch holding the question 'explode'."""

    def prune_batch(self, questions, contexts_per_question, **kw):  # noqa: ANN001, ANN003
        if "explode" in questions:
            raise RuntimeError("kaboom")
        return super().prune_batch(questions, contexts_per_question, **kw)


def test_one_failing_request_does_not_fail_its_batch():
    async def fire(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            bodies = [{"question": "explode", "contexts": [PARIS]}] + [
                {"question": QUESTION, "contexts": [PARIS]} for _ in range(5)]
            return await asyncio.gather(*(client.post("/prune", json=b) for b in bodies))

    with serving(PickyPruner(delay=0.02), batch_wait_ms=30) as base:
        responses = asyncio.run(fire(base))
        health = httpx.get(base + "/health").json()
    assert responses[0].json()["fallback"] == "model_error" and responses[0].json()["pruned"] == [PARIS]
    assert all(r.json()["pruned"] == ["Paris is the capital of France."] for r in responses[1:])
    assert health["fallbacks"] == 1


def test_model_error_fail_open_and_fail_closed():
    body = {"question": QUESTION, "contexts": [PARIS, CATS]}
    with serving(FakePruner(fail=RuntimeError("CUDA error"))) as base:
        out = post(base, "/prune", body).json()
        assert out["pruned"] == [PARIS, CATS] and out["rerank"] == [None, None] and out["fallback"] == "model_error"
        out = post(base, "/rerank", body).json()
        assert out["rerank"] == [None, None] and out["fallback"] == "model_error"
        assert httpx.get(base + "/health").json()["status"] == "degraded"  # the warm-up failed too
    with serving(FakePruner(fail=RuntimeError("CUDA error")), on_failure="closed") as base:
        response = post(base, "/prune", body)
        assert response.status_code == 503 and "model_error" in response.json()["error"]
        assert post(base, "/rerank", body).status_code == 503


def test_a_resent_fail_open_answer_is_not_marked_fallback_when_it_succeeds(url):
    """Unknown fields are echoed, so a client retrying a fail-open answer got a pruned answer still marked."""
    previous = {"question": QUESTION, "contexts": [PARIS], "pruned": [PARIS], "rerank": [None], "fallback": "timeout"}
    out = post(url, "/prune", previous).json()
    assert out["pruned"] == ["Paris is the capital of France."] and "fallback" not in out
    out = post(url, "/rerank", previous).json()
    assert out["rerank"] == [1.0] and "fallback" not in out
    assert "fallback" not in post(url, "/prune", {**previous, "contexts": []}).json()


def test_timeout_fail_open_and_fail_closed():
    body = {"question": QUESTION, "contexts": [PARIS]}
    with serving(FakePruner(delay=0.6), timeout=0.1, warmup=False) as base:
        out = post(base, "/prune", body).json()
        assert out["pruned"] == [PARIS] and out["fallback"] == "timeout"
        assert post(base, "/rerank", body).json()["fallback"] == "timeout"
    with serving(FakePruner(delay=0.6), timeout=0.1, warmup=False, on_failure="closed") as base:
        response = post(base, "/prune", body)
        assert response.status_code == 504 and set(response.json()) == {"error"}


def test_unexpected_crash_is_500_with_one_line_error():
    class Broken(FakePruner):
        def count_tokens(self, text):  # noqa: ANN001 - a bug in code outside the model call
            raise TypeError("bug")

    with serving(Broken()) as base:
        response = post(base, "/prune", {"question": QUESTION, "contexts": [PARIS], "max_tokens": 5})
    assert response.status_code == 500 and response.json() == {"error": "internal error (TypeError)"}


def test_service_config_is_validated():
    with pytest.raises(RagpruneError, match="^max_passages="):
        ServiceConfig(max_passages=0)
    with pytest.raises(RagpruneError, match="^on_failure="):
        ServiceConfig(on_failure="maybe")
    with pytest.raises(RagpruneError, match="^config="):
        create_app(FakePruner(), config={"timeout": 1})


def test_real_context_pruner_over_http():
    from ragprune.sentence.model import build_tiny_pruner_model
    from ragprune.sentence.pruner import ContextPruner

    model, tokenizer = build_tiny_pruner_model(seed=0)
    pruner = ContextPruner((model, tokenizer, {"max_length": 64, "threshold": 0.5}))
    contexts = [PARIS, CATS + " " + BERLIN * 3]
    with serving(pruner) as base:
        out = post(base, "/prune", {"question": QUESTION, "contexts": contexts, "threshold": 0.0}).json()
        assert out["pruned"] == [c.strip() for c in contexts]
        assert all(0.0 <= r <= 1.0 for r in out["rerank"])
        expected = [r.rerank for r in pruner.prune(QUESTION, contexts)]
        assert out["rerank"] == pytest.approx(expected, abs=1e-5)
        budget = post(base, "/prune", {"question": QUESTION, "contexts": contexts, "threshold": 0.0,
                                       "max_tokens": 12}).json()
        assert sum(pruner.count_tokens(p) for p in budget["pruned"]) <= 12
        scores = post(base, "/rerank", {"question": QUESTION, "contexts": contexts}).json()["rerank"]
        assert scores == pytest.approx(pruner.rerank(QUESTION, contexts), abs=1e-5)


# ---------------------------------------------------------------- the CLI


def test_cli_defaults_bind_loopback():
    from ragprune.cli.main import build_parser

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1" and args.on_failure == "open"


@pytest.mark.parametrize("argv, name", [(["serve", "--port", "70000"], "--port"),
                                        (["serve", "--threshold", "2"], "--threshold"),
                                        (["serve", "--max-passages", "0"], "max_passages")])
def test_cli_bad_options_exit_2_with_one_line(argv, name, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ragprune: error: ") and name in err and err.count("\n") == 1


@pytest.mark.parametrize("option, name", [(["--model", "/nonexistent"], "/nonexistent"),
                                          (["--device", "bogus"], "device='bogus'")])
def test_cli_bad_model_or_device_exit_2_before_listening(option, name, capsys, monkeypatch):
    def listen(self):  # noqa: ANN001, ANN202
        pytest.fail("uvicorn started although the model could not load")

    monkeypatch.setattr(uvicorn.Server, "run", listen)
    assert main(["serve", "--port", "0", *option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ragprune: error: ") and name in err and err.count("\n") == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_shuts_down_cleanly_on_signal(tmp_path, sig):
    from ragprune.sentence.model import build_tiny_pruner_model, save_pruner_model

    model, tokenizer = build_tiny_pruner_model(seed=0)
    checkpoint = save_pruner_model(model, tokenizer, tmp_path / "tiny", config={"max_length": 64, "threshold": 0.5},
                                   base_model=None)
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ragprune.cli.main", "serve", "--port", str(port), "--model",
                             str(checkpoint), "--log-level", "info"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.2)
        out = httpx.post(f"http://127.0.0.1:{port}/prune", json={"question": QUESTION, "contexts": [PARIS],
                                                                  "threshold": 0.0}, timeout=30).json()
        assert out["pruned"] == [PARIS]
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == 0
        log = proc.stdout.read()
        assert "Finished server process" in log or "stopped" in log, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
