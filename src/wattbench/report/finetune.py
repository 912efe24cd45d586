"""The report's fine-tuning section: the loss against cumulative joules per case, and the table
of each case's training figures beside its quality before and after (wattbench.finetune).

It reads each run folder's finetune.jsonl and the loss curves its records name; a folder with
no fine-tuning record adds nothing. report.html carries the section; finetune.csv has one row per
case; a run that fine-tuned only (no results.jsonl) gets finetune.html, the same section alone.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from wattbench.records.results import ResultsFile
from wattbench.report import svg

FINETUNE_FILE = "finetune.jsonl"  # wattbench.finetune.front's; the report does not import the runner's side
CSV_FILE = "finetune.csv"
PAGE_FILE = "finetune.html"

COLUMNS = (
    "case_id", "model", "finetune_data", "finetune_method", "finetune_steps_count",
    "finetune_train_tokens_per_s", "finetune_step_s", "finetune_energy_j", "finetune_energy_per_token_j",
    "finetune_energy_net_per_token_j", "rss_peak_mb", "gpu_mem_peak_mb", "finetune_loss_start_nats",
    "finetune_loss_end_nats", "finetune_energy_to_target_j", "finetune_adapter_bytes",
    "finetune_quality_metric", "finetune_quality_before", "finetune_quality_before_low",
    "finetune_quality_before_high", "finetune_quality_after", "finetune_quality_after_low",
    "finetune_quality_after_high", "finetune_quality_gain", "finetune_quality_gain_low",
    "finetune_quality_gain_high", "finetune_quality_gain_per_kj", "finetune_payback_queries_count",
    "finetune_payback_reason", "finetune_eval_reason", "energy_method",
)


def records(sources: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(run folder, record) of every successful fine-tuning run; the latest per case and folder."""
    out: dict[tuple[Path, str], dict[str, Any]] = {}
    for source in sources:
        if not source.is_dir():
            continue
        for record in ResultsFile(source, FINETUNE_FILE).records(fast=True):
            if "error" not in record and isinstance(record.get("case_id"), str):
                out[source, record["case_id"]] = record
    return [(folder, record) for (folder, _case), record in out.items()]


def curve(folder: Path, record: Mapping[str, Any]) -> tuple[list[tuple[float, float]], str]:
    """The run's loss against cumulative gross joules, or against seconds where no energy was
    measured: (points, x label)."""
    name = record.get("finetune_loss_file")
    if not isinstance(name, str):
        return [], ""
    try:
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        return [], ""
    joules = [(float(r["energy_j"]), float(r["loss_nats"])) for r in rows if r.get("energy_j")]
    if joules and len(joules) == len(rows):
        return joules, "cumulative J (gross)"
    return [(float(r["elapsed_s"]), float(r["loss_nats"])) for r in rows], "seconds of training"


def _cell(value: Any, digits: str = ".3g") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return format(value, digits)
    return escape(str(value))


def _with_ci(record: Mapping[str, Any], name: str) -> str:
    mean = record.get(name)
    if mean is None:
        return "n/a"
    low, high = record.get(f"{name}_low"), record.get(f"{name}_high")
    if low is None or high is None:
        return f"{mean:.3g} (no interval)"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]"


def section(sources: Sequence[Path]) -> str:
    """The HTML section ('' when no run fine-tuned)."""
    found = records(sources)
    if not found:
        return ""
    charts: dict[str, dict[str, list[tuple[float, float]]]] = {}
    labels: dict[str, str] = {}
    for folder, record in found:
        points, x_label = curve(folder, record)
        if points:
            key = f"{record.get('model')} on {record.get('finetune_data')}"
            label = str(record.get("finetune_method") or record["case_id"]).removeprefix("lora ")
            charts.setdefault(key, {})[label] = points
            labels[key] = x_label if labels.get(key, x_label) == x_label else "mixed units"
    figures = "".join(svg.curves(f"loss: {key}", series, labels[key], "training loss (nats/token)")
                      for key, series in charts.items())
    head = ["case", "steps", "tok/s", "s/step", "J/token (net)", "peak RSS MiB", "loss start → end",
            "quality before", "quality after", "gain", "gain per kJ", "payback (queries)", "adapter MB"]
    rows = []
    for _folder, r in found:
        adapter = r.get("finetune_adapter_bytes")
        payback = r.get("finetune_payback_queries_count")
        why = escape(str(r.get("finetune_payback_reason") or ""))
        cells = [
            escape(str(r["case_id"])), _cell(r.get("finetune_steps_count")),
            _cell(r.get("finetune_train_tokens_per_s")), _cell(r.get("finetune_step_s")),
            f"{_cell(r.get('finetune_energy_per_token_j'))} "
            f"({_cell(r.get('finetune_energy_net_per_token_j'))})",
            _cell(r.get("rss_peak_mb"), ".0f"),
            f"{_cell(r.get('finetune_loss_start_nats'))} → {_cell(r.get('finetune_loss_end_nats'))}",
            _with_ci(r, "finetune_quality_before"), _with_ci(r, "finetune_quality_after"),
            _with_ci(r, "finetune_quality_gain"), _cell(r.get("finetune_quality_gain_per_kj")),
            f'<span title="{why}">{"n/a" if payback is None else _cell(payback, ".0f")}</span>',
            _cell(None if adapter is None else adapter / 1e6),
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    metrics = sorted({str(m) for _f, r in found if (m := r.get("finetune_quality_metric"))})
    reasons = sorted({str(r["finetune_eval_reason"]) for _f, r in found if r.get("finetune_eval_reason")})
    notes = "".join(f'<p class="warn">evaluation: {escape(reason)}</p>' for reason in reasons)
    return (
        "<h2>Fine-tuning</h2>"
        f"<p>Each LoRA run's training loss against the joules spent so far (gross, warm-up included), and "
        f"its figures: rates and J per training token leave the warm-up steps out; quality is "
        f"{escape(', '.join(metrics) or 'the evaluation metric')} of the base model (before) and of the base "
        "model with the adapter on llama.cpp at the same sampling (after), with Student-t 95% intervals; "
        "the gain pairs each item's two answers. Payback: fine-tuning joules / joules saved per query "
        "against the reference named with --wb-finetune-reference.</p>"
        f"{notes}<div class=\"charts\">{figures}</div><div class=\"wide\"><table><tr>"
        + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>" + "".join(rows) + "</table></div>"
    )


def write_csv(sources: Sequence[Path], out_dir: Path) -> list[str]:
    """finetune.csv (one row per fine-tuning case); [] and no file when no run fine-tuned."""
    found = records(sources)
    if not found:
        return []
    with (out_dir / CSV_FILE).open("w", encoding="utf-8", newline="") as handle:
        out = csv.DictWriter(handle, COLUMNS, extrasaction="ignore")
        out.writeheader()
        for _folder, record in found:
            out.writerow({key: record.get(key) for key in COLUMNS})
    return [CSV_FILE]


def write_page(sources: Sequence[Path], out_dir: Path, style: str) -> list[str]:
    """A run that only fine-tuned: finetune.html (the section alone) and finetune.csv."""
    body = section(sources)
    if not body:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"wattbench fine-tuning: {out_dir.name}"
    (out_dir / PAGE_FILE).write_text(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{style}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>\n",
        encoding="utf-8",
    )
    return [PAGE_FILE, *write_csv(sources, out_dir)]
