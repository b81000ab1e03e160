"""The ``ragprune serve`` HTTP service: a thin FastAPI layer over ``ContextPruner`` with micro-batching.

Endpoints:

- ``POST /prune``: one ``ragprune prune`` input line (``{"question", "contexts"}`` + options) in, the output
  line (input fields + ``"pruned"`` + ``"rerank"``) out; see :mod:`ragprune.service.schemas`.
- ``POST /rerank``: ``{"question", "contexts"}`` in, the input fields + ``"rerank"`` out.
- ``GET /health``: liveness and counters.

Concurrent ``/prune`` requests are collected for up to ``batch_wait_ms`` (or ``max_batch_size`` requests)
and run as one ``prune_batch`` call; all model calls run one at a time on a single worker thread, and
requests that arrive while the model is busy form the next batch.

Limits and errors: a body over ``max_body_bytes`` gets 413; one not sent as ``Content-Type: application/json``
415; a body that is not UTF-8 JSON, a schema violation, a lone surrogate in any string, a NaN or infinite number
in any field, a field nested more than 64 levels, more than ``max_passages`` contexts or a :class:`RagpruneError`
gets 422; an unknown route 404, a wrong method 405; anything else 500. Every error body is ``{"error": "<one line>"}``.

Failure policy: on a model error or a request taking longer than ``timeout`` seconds, ``on_failure="open"``
(the default) answers 200 with the contexts unpruned, ``"rerank"`` of ``null`` and ``"fallback": "<reason>"``
(and logs a warning); ``on_failure="closed"`` answers 503 (model error) or 504 (timeout).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from ragprune.errors import RagpruneError
from ragprune.middleware import PruneOptions, finish_results

try:  # module level so FastAPI can resolve the annotations; a missing extra is reported by create_app
    from ragprune.service.schemas import ErrorResponse, HealthResponse, PruneRequest, RerankRequest

    _IMPORT_ERROR: ImportError | None = None
except ImportError as _err:
    _IMPORT_ERROR = _err

__all__ = ["MicroBatcher", "ServiceConfig", "create_app"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceConfig:
    """Limits, batching and failure policy of the service.

    Args:
        max_body_bytes: Largest request body accepted (413 above).
        max_passages: Most contexts in one request (422 above).
        max_batch_size: Most requests merged into one ``prune_batch`` call.
        batch_wait_ms: How long the first request of a batch waits for others, in milliseconds.
        timeout: Seconds a request may wait for the model; ``None`` waits forever.
        on_failure: ``"open"`` answers unpruned on a model error or timeout; ``"closed"`` answers 503/504.
        warmup: Run one tiny call at startup so the first request does not pay for loading the model.
    """

    max_body_bytes: int = 1_000_000
    max_passages: int = 256
    max_batch_size: int = 32
    batch_wait_ms: float = 5.0
    timeout: float | None = 30.0
    on_failure: Literal["open", "closed"] = "open"
    warmup: bool = True

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_passages", "max_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RagpruneError(f"{name}={value!r} is not valid: use an integer >= 1.")
        if isinstance(self.batch_wait_ms, bool) or not isinstance(self.batch_wait_ms, (int, float)) \
                or not 0 <= self.batch_wait_ms <= 10_000:
            raise RagpruneError(f"batch_wait_ms={self.batch_wait_ms!r} is not valid: use a number in [0, 10000].")
        if self.timeout is not None and (isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float))
                                         or not self.timeout > 0):
            raise RagpruneError(f"timeout={self.timeout!r} is not valid: use a number > 0 or None.")
        if self.on_failure not in ("open", "closed"):
            raise RagpruneError(f"on_failure={self.on_failure!r} is not valid: use 'open' or 'closed'.")


@dataclass
class _Item:
    question: str
    contexts: list[str]
    threshold: float | None
    future: asyncio.Future


@dataclass
class _Stats:
    requests: int = 0
    batches: int = 0
    max_batch_seen: int = 0
    fallbacks: int = 0
    batch_sizes: list[int] = field(default_factory=list)


class MicroBatcher:
    """Collect concurrent prune requests for a few milliseconds and run them as one ``prune_batch`` call.

    All model calls (batches and reranks) run on one worker thread, one at a time. A batch that fails is
    retried request by request, so one bad request cannot fail the others.

    Args:
        pruner: An object with ``prune_batch`` and ``rerank`` (``ContextPruner``).
        max_batch_size: Most requests per batch.
        batch_wait_ms: How long the first request waits for company, in milliseconds.
    """

    def __init__(self, pruner: Any, *, max_batch_size: int = 32, batch_wait_ms: float = 5.0) -> None:
        self.pruner = pruner
        self.max_batch_size = max_batch_size
        self.batch_wait = batch_wait_ms / 1000.0
        self.stats = _Stats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragprune-model")

    @property
    def queued(self) -> int:
        return 0 if self._queue is None else self._queue.qsize()

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop(), name="ragprune-batcher")

    async def stop(self) -> None:
        """Stop collecting; fail what is still queued; do not wait for a running model call."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(RuntimeError("the service is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def run_in_worker(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a model call on the single worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def submit(self, question: str, contexts: list[str], threshold: float | None) -> asyncio.Future:
        """Queue one request; the future resolves to its list of PruneResult (or the model's exception)."""
        if self._queue is None:
            raise RuntimeError("the batcher is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(question, contexts, threshold, future))
        return future

    async def _loop(self) -> None:
        assert self._queue is not None  # noqa: S101 - internal invariant, set by start()
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.batch_wait
            while len(batch) < self.max_batch_size:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            batch = [item for item in batch if not item.future.done()]  # timed out while queued
            groups: dict[float | None, list[_Item]] = {}
            for item in batch:
                groups.setdefault(item.threshold, []).append(item)
            for threshold, items in groups.items():
                await self._run_group(threshold, items)

    async def _run_group(self, threshold: float | None, items: list[_Item]) -> None:
        self.stats.batches += 1
        self.stats.max_batch_seen = max(self.stats.max_batch_seen, len(items))
        if len(self.stats.batch_sizes) < 100_000:
            self.stats.batch_sizes.append(len(items))
        try:
            results = await self.run_in_worker(self.pruner.prune_batch, [i.question for i in items],
                                               [i.contexts for i in items], threshold=threshold)
            if len(results) != len(items):
                raise RuntimeError(f"prune_batch returned {len(results)} results for {len(items)} questions")
        except Exception as err:  # noqa: BLE001 - isolate the failing request, then report per request
            if len(items) > 1:
                for item in items:
                    await self._run_group(threshold, [item])
                return
            if not items[0].future.done():
                items[0].future.set_exception(err)
            return
        for item, per_context in zip(items, results):
            if not item.future.done():
                item.future.set_result(per_context)


_ERROR_CODES = ((413, "body too large"), (415, "body not sent as application/json"), (422, "invalid request"),
                (503, "model error, fail-closed"), (504, "timeout, fail-closed"))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=status, content={"error": " ".join(str(message).split())}, headers=headers)


class _BodyLimit:
    """ASGI middleware: answer 413 when a request body exceeds ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"request body is larger than max_body_bytes={self.max_bytes}: send fewer or shorter contexts."
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await _error(413, too_large)(scope, receive, send)
                    return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await _error(413, too_large)(scope, receive, send)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}]),
                       send)


def _replay(messages: list[dict]) -> Callable[[], Awaitable[dict]]:
    queue = list(messages)

    async def receive() -> dict:
        if queue:
            return queue.pop(0)
        await asyncio.Event().wait()  # like a client that sent everything and waits for the answer
        return {"type": "http.disconnect"}

    return receive


# Why FastAPI could not parse a JSON body (its 400 "There was an error parsing the body"): like invalid JSON, a 422.
_UNREADABLE = {UnicodeDecodeError: "not UTF-8 text", RecursionError: "nested too deeply",
               ValueError: "a number has too many digits"}  # over sys.get_int_max_str_digits()


def _echoed(request: Any) -> dict[str, Any]:
    """The request's fields, echoed in the answer, less a ``fallback`` one (a client resending a fail-open answer):
    only this request's own fallback may mark the answer."""
    body = request.model_dump(exclude_unset=True)
    body.pop("fallback", None)
    return body


def _describe_validation(exc: Any) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return f"body is not valid JSON ({(first.get('ctx') or {}).get('error', 'decode error')})"
    loc = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc}: {first.get('msg', 'invalid')}{more}"


def create_app(pruner: Any = None, *, model: str | None = None, config: ServiceConfig | None = None,
               pruner_kwargs: dict[str, Any] | None = None) -> Any:
    """Return the FastAPI app serving ``pruner`` (built from ``model`` at startup when ``None``).

    Args:
        pruner: A ``ContextPruner`` (or an object with ``prune_batch``, ``rerank`` and ``count_tokens``).
        model: Checkpoint folder for the ``ContextPruner`` built when ``pruner`` is ``None`` (``None``: the
            default checkpoint).
        config: Limits, batching and failure policy; ``None`` uses :class:`ServiceConfig` defaults.
        pruner_kwargs: Extra ``ContextPruner`` keyword arguments (``threshold``, ``device``, ``batch_size``...).

    Raises:
        RagpruneError: If ``config`` is not a ServiceConfig or FastAPI is not installed.
    """
    try:
        if _IMPORT_ERROR is not None:
            raise _IMPORT_ERROR
        from fastapi import FastAPI
        from fastapi.exceptions import RequestValidationError
        from starlette.exceptions import HTTPException
    except ImportError as err:
        raise RagpruneError(f"the service needs the 'serve' extra ({err}): pip install 'datapruner[serve]'") from err

    config = ServiceConfig() if config is None else config
    if not isinstance(config, ServiceConfig):
        raise RagpruneError(f"config={config!r} is not valid: use a ragprune.service.app.ServiceConfig.")
    if pruner is None:
        from ragprune.sentence.pruner import ContextPruner

        pruner = ContextPruner(model, **(pruner_kwargs or {}))
    batcher = MicroBatcher(pruner, max_batch_size=config.max_batch_size, batch_wait_ms=config.batch_wait_ms)
    health = {"status": "ok"}

    @asynccontextmanager
    async def lifespan(app: Any):  # noqa: ANN202
        await batcher.start()
        if config.warmup:
            try:
                await batcher.run_in_worker(pruner.prune_batch, ["warm up"], [["Warm up the model."]])
            except Exception as err:  # noqa: BLE001 - the policy decides per request; report it here
                health["status"] = "degraded"
                logger.warning("model warm-up failed (%s: %s); requests will follow on_failure=%r",
                               type(err).__name__, err, config.on_failure)
        logger.info("ragprune service ready (batching up to %d requests, %.1f ms)",
                    config.max_batch_size, config.batch_wait_ms)
        try:
            yield
        finally:
            await batcher.stop()
            logger.info("ragprune service stopped")

    app = FastAPI(title="ragprune", description=__doc__, lifespan=lifespan)
    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse, "description": text}
                                               for code, text in _ERROR_CODES}
    app.state.batcher = batcher
    app.state.config = config
    app.add_middleware(_BodyLimit, max_bytes=config.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _on_validation(request: Any, exc: RequestValidationError) -> Any:
        if isinstance(exc.body, bytes):  # FastAPI parses JSON only when the content type says so (curl -d does not)
            return _error(415, "send the body as JSON with the header 'Content-Type: application/json' (got "
                               f"{request.headers.get('content-type', 'none')}).")
        return _error(422, _describe_validation(exc))

    @app.exception_handler(HTTPException)
    async def _on_http(request: Any, exc: HTTPException) -> Any:
        """FastAPI's own errors (404, 405, a body it could not parse) get the ``{"error"}`` body too."""
        reason = _UNREADABLE.get(type(exc.__cause__))
        if reason is not None:
            return _error(422, f"body is not valid JSON ({reason})")
        return _error(exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(RagpruneError)
    async def _on_ragprune(request: Any, exc: RagpruneError) -> Any:
        return _error(422, str(exc))

    @app.exception_handler(Exception)
    async def _on_crash(request: Any, exc: Exception) -> Any:
        logger.exception("unexpected error on %s", request.url.path)
        return _error(500, f"internal error ({type(exc).__name__})")

    def check_passages(contexts: list[str]) -> None:
        if len(contexts) > config.max_passages:
            raise RagpruneError(f"contexts has {len(contexts)} passages > max_passages={config.max_passages}: "
                                "send fewer passages per request.")

    def fallback(body: dict[str, Any], contexts: list[str], reason: str, detail: str, key: str) -> Any:
        batcher.stats.fallbacks += 1
        if config.on_failure == "closed":
            status = 504 if reason == "timeout" else 503
            return _error(status, f"pruning failed ({reason}: {detail}); on_failure='closed'.")
        logger.warning("pruning failed (%s: %s); answering with %d context(s) unpruned (fail-open)",
                       reason, detail, len(contexts))
        out = dict(body)
        if key == "pruned":
            out["pruned"] = list(contexts)
        out["rerank"] = [None] * len(contexts)
        out["fallback"] = reason
        return out

    async def wait(awaitable: Awaitable[Any]) -> Any:
        if config.timeout is None:
            return await awaitable
        return await asyncio.wait_for(awaitable, config.timeout)

    @app.post("/prune", responses=errors)
    async def prune(request: PruneRequest) -> Any:
        """Prune the contexts of one question; the answer is the ``ragprune prune`` output line."""
        batcher.stats.requests += 1
        check_passages(request.contexts)
        body = _echoed(request)
        options = PruneOptions(threshold=request.threshold, max_tokens=request.max_tokens, top_k=request.top_k,
                               min_kept=min(request.min_kept, len(request.contexts)) if request.top_k is None
                               else min(request.min_kept, request.top_k, len(request.contexts)),
                               max_input_chars=None)
        if not request.contexts:
            return {**body, "pruned": [], "rerank": []}
        future = batcher.submit(request.question, request.contexts, request.threshold)
        try:
            results = await wait(asyncio.shield(future))
        except asyncio.TimeoutError:
            future.cancel()
            return fallback(body, request.contexts, "timeout", f"no answer within timeout={config.timeout} s", "pruned")
        except RagpruneError:
            raise
        except Exception as err:  # noqa: BLE001 - the failure policy decides
            return fallback(body, request.contexts, "model_error", f"{type(err).__name__}: {err}", "pruned")
        kept = finish_results(request.contexts, results, options=options, pruner=pruner)
        pruned = [""] * len(request.contexts)
        for passage in kept:
            pruned[passage.index] = passage.text
        return {**body, "pruned": pruned, "rerank": [round(float(r.rerank), 6) for r in results]}

    @app.post("/rerank", responses=errors)
    async def rerank(request: RerankRequest) -> Any:
        """Score each context's relevance to the question, in [0, 1]."""
        batcher.stats.requests += 1
        check_passages(request.contexts)
        body = _echoed(request)
        if not request.contexts:
            return {**body, "rerank": []}
        try:
            scores = await wait(batcher.run_in_worker(pruner.rerank, request.question, request.contexts))
        except asyncio.TimeoutError:
            return fallback(body, request.contexts, "timeout", f"no answer within timeout={config.timeout} s", "rerank")
        except RagpruneError:
            raise
        except Exception as err:  # noqa: BLE001
            return fallback(body, request.contexts, "model_error", f"{type(err).__name__}: {err}", "rerank")
        return {**body, "rerank": [round(float(s), 6) for s in scores]}

    @app.get("/health", response_model=HealthResponse)
    async def health_check() -> Any:
        """Liveness and counters."""
        return HealthResponse(status=health["status"], model=type(pruner).__name__,  # type: ignore[arg-type]
                              requests=batcher.stats.requests, batches=batcher.stats.batches,
                              max_batch_seen=batcher.stats.max_batch_seen, fallbacks=batcher.stats.fallbacks,
                              queued=batcher.queued)

    return app
