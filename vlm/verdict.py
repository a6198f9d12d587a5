"""A training run's verdict on its losses: converged, improving or not converging, by a rule a
report states beside it (runs selected by val IoU are judged by `vlm.selection.iou_verdict`)."""

from __future__ import annotations

from cadlib.vocabulary import Verdict
from vlm.reports import EpochPoint

RISE_TOLERANCE = 0.005
MIN_FALL = 0.01
"""How much lower (relative) the val loss must end than it began to count as moved (7.3165 twice is not)."""
VERDICT_RULE = (f"{Verdict.CONVERGED}: the val loss ended at least 1% lower than it began and did not rise over the last "
                "epochs (each of the last two epochs at most 0.5% above the one before); "
                f"{Verdict.IMPROVING}: the train loss fell by at least 20% (or there is no val split to judge by); "
                f"{Verdict.NOT_CONVERGING}: otherwise")


def verdict(history: list[EpochPoint]) -> tuple[float | None, Verdict]:
    """(total train-loss reduction in %, verdict) by `VERDICT_RULE`: only the held-out loss can
    say a run converged (a train loss alone falls when a model memorises)."""
    if len(history) < 2:
        return None, Verdict.TOO_FEW_EPOCHS
    first, last = history[0]["train_loss"], history[-1]["train_loss"]
    reduction = 100.0 * (first - last) / first if first else 0.0
    vals = [h["val_loss"] for h in history if h["val_loss"] is not None]
    tail = vals[-3:]
    rising = any(b > a * (1 + RISE_TOLERANCE) for a, b in zip(tail, tail[1:], strict=False))
    if len(vals) >= 2 and vals[-1] < vals[0] * (1 - MIN_FALL) and not rising:
        return round(reduction, 1), Verdict.CONVERGED
    if reduction >= 20:
        return round(reduction, 1), Verdict.IMPROVING
    return round(reduction, 1), Verdict.NOT_CONVERGING
