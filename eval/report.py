"""Write a suite's ``results.json`` and render Markdown and PNG plots from that JSON, nothing else.

A suite returns a plain dict. The keys this module understands:

- ``suite`` (str), ``config`` (dict), ``seed``, ``timings`` (dict): recorded as they are;
- ``tables``: ``[{"title": str, "columns": [str], "rows": [[cell, ...]]}]``, rendered as Markdown tables;
- ``plots``: ``[{"file": "x.png", "title": str, "xlabel": str, "ylabel": str,
  "series": [{"label": str, "x": [..], "y": [..], "yerr": [..] | None, "style": "-o" | None}]}]``;
- ``verdicts``: ``[str]``, a short honest statement each, rendered as a list;
- ``notes``: ``[str]``.

Everything else (raw runs, per-item metrics) is kept in the JSON for later analysis.
"""
from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from datapruner._atomic import atomic_file


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform(),
           "cpu_count": str(os.cpu_count())}
    for name in ("numpy", "torch", "transformers", "sentence_transformers", "datasets", "faiss", "sklearn"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = str(getattr(module, "__version__", "?"))
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def render_markdown(results: dict[str, Any]) -> str:
    """Return the Markdown report of a results dict (deterministic: the same JSON gives the same text)."""
    lines = [f"# {results.get('suite', 'results')}", ""]
    command = results.get("command")
    if command:
        lines += [f"Command: `{command}`", ""]
    for verdict_title, key in (("Verdicts", "verdicts"), ("Notes", "notes")):
        items = results.get(key) or []
        if items:
            lines += [f"## {verdict_title}", ""] + [f"- {item}" for item in items] + [""]
    for table in results.get("tables", []):
        lines += [f"## {table['title']}", ""]
        columns = table["columns"]
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "---|" * len(columns))
        for row in table["rows"]:
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    for plot in results.get("plots", []):
        lines += [f"![{plot['title']}]({plot['file']})", ""]
    timings = results.get("timings")
    if timings:
        lines += ["## Timings (s)", ""] + [f"- {k}: {_cell(v)}" for k, v in timings.items()] + [""]
    return "\n".join(lines)


def render_plots(results: dict[str, Any], output_dir: Path) -> list[Path]:
    """Draw every plot spec in ``results['plots']`` as a PNG under ``output_dir``."""
    specs = results.get("plots", [])
    if not specs:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for spec in specs:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for series in spec["series"]:
            style = series.get("style") or "-o"
            if series.get("yerr") is not None:
                ax.errorbar(series["x"], series["y"], yerr=series["yerr"], fmt=style,
                            label=series["label"], capsize=3, markersize=4)
            else:
                ax.plot(series["x"], series["y"], style, label=series["label"], markersize=4)
        ax.set_title(spec["title"])
        ax.set_xlabel(spec["xlabel"])
        ax.set_ylabel(spec["ylabel"])
        if spec.get("xscale"):
            ax.set_xscale(spec["xscale"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = output_dir / spec["file"]
        with atomic_file(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def save_results(results: dict[str, Any], output_dir: str | os.PathLike[str]) -> Path:
    """Write ``results.json``, ``results.md`` and the plots under ``output_dir``; return the JSON path."""
    output_dir = Path(output_dir)
    results = {**results, "versions": _versions()}
    json_path = output_dir / "results.json"
    with atomic_file(json_path) as tmp:
        tmp.write_text(json.dumps(results, indent=2, sort_keys=False, default=float) + "\n", encoding="utf-8")
    render_from_json(json_path)
    return json_path


def render_from_json(json_path: str | os.PathLike[str]) -> Path:
    """Re-render ``results.md`` and the plots from an existing ``results.json``."""
    json_path = Path(json_path)
    results = json.loads(json_path.read_text(encoding="utf-8"))
    md_path = json_path.with_name("results.md")
    with atomic_file(md_path) as tmp:
        tmp.write_text(render_markdown(results), encoding="utf-8")
    render_plots(results, json_path.parent)
    return md_path
