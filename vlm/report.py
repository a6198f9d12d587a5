"""Reporting a training run: the epoch table and a loss-curve image of the logged steps (PIL, no
plotting library)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from vlm.reports import TrainingReport


def epoch_table(report: dict) -> str:
    """Markdown: epoch, train loss, val loss; then reduction, verdict, throughput, memory."""
    lines = ["| epoch | train loss | val loss |", "|---:|---:|---:|"]
    for h in report["history"]:
        val = "-" if h["val_loss"] is None else f"{h['val_loss']:.4f}"
        lines.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {val} |")
    lines += [
        "",
        f"Loss reduction: {report['loss_reduction_pct']}% -> **{report['verdict']}** ({report['verdict_rule']}).",
        f"{report['train_samples']} train / {report['val_samples']} val samples on {report['device']} "
        f"({report['precision']}): {report['samples_per_second']} samples/s, peak memory {report['peak_memory_mb']} MB, "
        f"{report['train_seconds']} s{' (resumed from a checkpoint)' if report.get('resumed_from_checkpoint') else ''}.",
    ]
    selected = report.get("selection")
    if selected and selected["curve"]:
        lines += ["", "| step | epoch | train min | val score | mean IoU | invalid | kept |", "|---:|---:|---:|---:|---:|---:|:---|"]
        for p in selected["curve"]:
            iou = "-" if p["mean_iou"] is None else f"{p['mean_iou']:.4f}"
            lines.append(f"| {p['step']} | {p['epoch']} | {p['train_minutes']} | {p['score']:.4f} | {iou} | "
                         f"{p['invalid_ratio']:.2f} | {'**kept**' if p['step'] == selected['kept_step'] else ''} |")
        lines += ["", f"Kept: step {selected['kept_step']} (val score {selected['kept_score']})"
                  f"{', stopped early' if selected['stopped_early'] else ''}; {selected['rule']}."]
    return "\n".join(lines)


def loss_curve_png(steps: list[dict], *, width: int = 560, height: int = 300) -> bytes:
    """The logged train loss (a point every `logging_steps`) and the val loss at each evaluation,
    over optimizer steps, with axes, ticks and a legend, as a PNG."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 56, width - 16, 30, height - 40
    d.line([(left, top), (left, bottom), (right, bottom)], fill="black")
    series = [("loss", "train loss", (31, 119, 180)), ("eval_loss", "val loss", (255, 127, 14))]
    points = {key: [(r["step"], r[key]) for r in steps if r.get(key) is not None] for key, _, _ in series}
    values = [v for pts in points.values() for _, v in pts]
    if not values:
        d.text((left + 10, top + 10), "no logged steps yet", fill="black")
    else:
        lo, hi = min(values), max(values)
        hi = hi if hi > lo else lo + 1.0
        first = min(s for pts in points.values() for s, _ in pts)
        last = max(s for pts in points.values() for s, _ in pts)
        span = max(1, last - first)

        def xy(step: float, v: float) -> tuple[float, float]:
            return left + (right - left) * (step - first) / span, bottom - (bottom - top) * (v - lo) / (hi - lo)

        for key, _, color in series:
            pts = [xy(s, v) for s, v in points[key]]
            if len(pts) > 1:
                d.line(pts, fill=color, width=2)
            if key == "eval_loss" or len(pts) == 1:
                for x, y in pts:
                    d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        for i in range(5):  # y ticks
            v = lo + (hi - lo) * i / 4
            y = xy(first, v)[1]
            d.line([(left - 4, y), (left, y)], fill="black")
            d.text((4, y - 6), f"{v:.3g}", fill="black")
        for i in range(5):  # x ticks
            step = first + span * i / 4
            x = xy(step, lo)[0]
            d.line([(x, bottom), (x, bottom + 4)], fill="black")
            d.text((x - 8, bottom + 6), f"{step:.0f}", fill="black")
        d.text(((left + right) // 2 - 12, bottom + 22), "step", fill="black")
    x = left + 10
    for key, label, color in series:  # the legend, top left: the series drawn
        if values and not points[key]:
            continue
        d.line([(x, top - 14), (x + 22, top - 14)], fill=color, width=3)
        d.text((x + 28, top - 20), label, fill="black")
        x += 110
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def record_evaluation(weights: str | Path, evaluation: dict[str, Any]) -> TrainingReport:
    """Adds a held-out evaluation's numbers to the training_report.json beside `weights` (a run's
    weights folder), so the report says what the model does, not only how its loss fell."""
    import json

    from cadlib.atomic import write_text_atomic

    path = Path(weights).parent / "training_report.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["evaluation"] = evaluation
    write_text_atomic(path, json.dumps(data, indent=1))
    return data
