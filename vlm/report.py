"""Reporting a training run: the seed's epoch table and a loss-curve image (PIL, no plotting
library)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


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
    return "\n".join(lines)


def loss_curve_png(history: list[dict], *, width: int = 480, height: int = 280) -> bytes:
    """Train (blue) and val (orange) loss per epoch as a PNG."""
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    left, right, top, bottom = 50, width - 15, 15, height - 35
    d.line([(left, top), (left, bottom), (right, bottom)], fill="black")
    series = [("train_loss", (31, 119, 180)), ("val_loss", (255, 127, 14))]
    values = [h[k] for h in history for k, _ in series if h.get(k) is not None]
    if not values:
        d.text((left + 10, top + 10), "no epochs yet", fill="black")
    else:
        lo, hi = min(values), max(values)
        hi = hi if hi > lo else lo + 1.0
        n = max(1, len(history) - 1)

        def xy(i: int, v: float) -> tuple[float, float]:
            return left + (right - left) * i / n, bottom - (bottom - top) * (v - lo) / (hi - lo)

        for key, color in series:
            pts = [xy(i, h[key]) for i, h in enumerate(history) if h.get(key) is not None]
            if len(pts) > 1:
                d.line(pts, fill=color, width=2)
            for x, y in pts:
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        d.text((5, top), f"{hi:.2f}", fill="black")
        d.text((5, bottom - 10), f"{lo:.2f}", fill="black")
        for i, h in enumerate(history):
            d.text((xy(i, lo)[0] - 3, bottom + 5), str(h["epoch"]), fill="black")
    d.text((right - 150, bottom + 18), "epoch   - train  - val", fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def record_evaluation(report: dict, evaluation: dict) -> dict:
    """Adds a held-out evaluation's numbers to a run's training_report.json (beside its weights),
    so the report says what the model does, not only how its loss fell."""
    import json
    from pathlib import Path

    path = Path(report["weights"]).parent / "training_report.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["evaluation"] = evaluation
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    tmp.replace(path)
    return data
