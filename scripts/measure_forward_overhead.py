"""Measure the fixed cost of one pruner forward pass in padded-token equivalents, on this machine's device.

``ContextPruner`` groups windows into batches so as to minimise padded tokens + a per-pass overhead
(``ragprune.sentence.pruner.FORWARD_OVERHEAD_TOKENS``). This times forward passes of the checkpoint's encoder
shape (random weights: the cost does not depend on their values) over a grid of batch sizes and lengths, in the
precision ``ContextPruner`` would use there, and fits ``time = a + c * padded_tokens``; the overhead is ``a / c``.

    python scripts/measure_forward_overhead.py [--device cuda] [--threads 2] [--out overhead.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from transformers import BertConfig, BertModel

from ragprune.sentence.model import DEFAULT_CHECKPOINT, PrunerModel
from ragprune.sentence.pruner import has_native_bfloat16


def time_forward(model: torch.nn.Module, batch: int, length: int, device: torch.device, repeats: int) -> float:
    ids = torch.randint(1000, 20000, (batch, length), device=device)
    mask = torch.ones_like(ids)
    times = []
    with torch.inference_mode():
        for k in range(repeats + 2):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(ids, mask, torch.zeros_like(ids))
            if device.type == "cuda":
                torch.cuda.synchronize()
            if k >= 2:  # two warm-up passes per shape
                times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    config = json.loads((Path(DEFAULT_CHECKPOINT) / "config.json").read_text())
    model = PrunerModel(BertModel(BertConfig.from_dict(config["encoder_config"]), add_pooling_layer=False)).eval()
    dtype = torch.bfloat16 if has_native_bfloat16(device) else torch.float32
    model = model.to(device=device, dtype=dtype)
    rows = [{"batch": b, "length": n, "seconds": time_forward(model, b, n, device, args.repeats)}
            for b in (1, 2, 4, 8, 16, 32) for n in (32, 64, 128, 192, 256)]
    x = np.array([r["batch"] * r["length"] for r in rows], dtype=float)
    y = np.array([r["seconds"] for r in rows])
    slope, intercept = np.polyfit(x, y, 1)
    report = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "threads": args.threads, "dtype": str(dtype), "seconds_per_pass": float(intercept),
              "seconds_per_token": float(slope), "overhead_tokens": float(intercept / slope), "grid": rows}
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "grid"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
