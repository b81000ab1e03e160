"""``ragprune serve``: run the pruning HTTP service (``/prune``, ``/rerank``, ``/health``) with uvicorn.

It binds to 127.0.0.1 unless ``--host`` says otherwise, batches concurrent requests into one model call,
and shuts down cleanly on SIGTERM or SIGINT (in-flight requests finish, queued ones are answered).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

from ragprune.errors import RagpruneError

__all__ = ["EXAMPLES", "add_parser", "run"]

logger = logging.getLogger(__name__)

EXAMPLES = [
    "ragprune serve --port 8000",
    "ragprune serve --port 8000 --model path/to/checkpoint --threshold 0.3 --on-failure closed",
    "curl -s localhost:8000/prune -H 'Content-Type: application/json' "
    "-d '{\"question\": \"Who wrote Hamlet?\", \"contexts\": [\"...\"]}'",
]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``serve`` on the ``ragprune`` subparsers."""
    parser = subparsers.add_parser(
        "serve", help="serve /prune, /rerank and /health over HTTP",
        description=__doc__, epilog="examples:\n  " + "\n  ".join(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one (default: 8000)")
    parser.add_argument("--model", default=None,
                        help="checkpoint folder or Hub id (default: the checkpoint shipped with ragprune)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="default keep threshold in [0, 1] when a request sets none (default: the model's)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="at most this many windows per forward pass, grouped by length (default: 32)")
    parser.add_argument("--precision", default="auto",
                        help="auto, float32, bfloat16 or int8; auto = bfloat16 where the device has it natively (default: auto)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--num-threads", type=int, default=None,
                        help="torch CPU threads for the model (default: torch's choice; 1 is best on a busy machine)")
    parser.add_argument("--max-batch-size", type=int, default=32,
                        help="most requests merged into one model call (default: 32)")
    parser.add_argument("--batch-wait-ms", type=float, default=5.0,
                        help="how long a request waits for others to share its batch (default: 5)")
    parser.add_argument("--max-body-bytes", type=int, default=1_000_000,
                        help="largest request body; larger gets 413 (default: 1000000)")
    parser.add_argument("--max-passages", type=int, default=256,
                        help="most contexts per request; more gets 422 (default: 256)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds a request may wait for the model; 0 disables (default: 30)")
    parser.add_argument("--on-failure", choices=("open", "closed"), default="open",
                        help="on a model error or timeout: answer unpruned (open, default) or 503/504 (closed)")
    parser.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"), default="info",
                        help="uvicorn log level (default: info)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT; return 0 (errors are raised as :class:`RagpruneError`)."""
    if isinstance(args.port, bool) or not 0 <= args.port <= 65535:
        raise RagpruneError(f"--port={args.port} is not valid: use an integer in [0, 65535].")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise RagpruneError(f"--threshold={args.threshold} is not valid: use a number in [0, 1].")
    if args.num_threads is not None and args.num_threads < 1:
        raise RagpruneError(f"--num-threads={args.num_threads} is not valid: use an integer >= 1.")
    try:
        import uvicorn
    except ImportError as err:
        raise RagpruneError(f"ragprune serve needs the 'serve' extra ({err}): pip install 'datapruner[serve]'") from err
    from ragprune.sentence.pruner import ContextPruner
    from ragprune.service.app import ServiceConfig, create_app

    if args.num_threads is not None:
        import torch

        torch.set_num_threads(args.num_threads)

    config = ServiceConfig(max_body_bytes=args.max_body_bytes, max_passages=args.max_passages,
                           max_batch_size=args.max_batch_size, batch_wait_ms=args.batch_wait_ms,
                           timeout=args.timeout or None, on_failure=args.on_failure)
    pruner = ContextPruner(args.model, threshold=args.threshold, batch_size=args.batch_size, device=args.device,
                           precision=args.precision)
    pruner.tokenizer  # noqa: B018 - loads the model now: a bad --model or --device stops here, before listening
    app = create_app(pruner, config=config)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("binding to %s: the service has no authentication; expose it only behind a trusted proxy",
                       args.host)
    server = _server_class(uvicorn)(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                                           lifespan="on", timeout_graceful_shutdown=10))
    server.run()  # SIGINT/SIGTERM: stop accepting, finish in-flight requests, run the shutdown hooks
    if not server.started:
        raise RagpruneError(f"the service could not start on {args.host}:{args.port} (see the log above).")
    logger.info("ragprune serve stopped cleanly")
    return 0


def _server_class(uvicorn: Any) -> type:
    """A uvicorn Server that exits with status 0 after a graceful, signal-triggered shutdown.

    uvicorn re-raises the captured signal once it has shut down, so the process would end with -15/-2; a
    SIGTERM is the normal way to stop this service, so the command returns 0 instead.
    """

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return _Server
