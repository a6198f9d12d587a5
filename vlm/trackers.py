"""Where a training run's metrics go besides the Prefect UI: TensorBoard event files under
`<out>/tensorboard` (offline) and MLflow, as a recipe's `report_to` asks."""

from __future__ import annotations

from pathlib import Path


def check_trackers(report_to: tuple[str, ...]) -> None:
    """Raises ValueError naming a tracker the recipe asks for that is unknown or not installed."""
    from transformers.integrations import is_mlflow_available, is_tensorboard_available

    available = {"tensorboard": is_tensorboard_available, "mlflow": is_mlflow_available}
    for name in report_to:
        if name not in available:
            raise ValueError(f"report_to {name!r}: cadrecon tracks to {sorted(available)} (or [] for none)")
        if not available[name]():
            raise ValueError(f"report_to {name!r}: {name} is not installed (pip install 'cadrecon[{name}]')")


def trackers(report_to: tuple[str, ...], out_dir: str) -> tuple[list[str], list, object | None]:
    """(Trainer's report_to, extra callbacks, the TensorBoard writer or None): TensorBoard writes to
    <out>/tensorboard, on rank 0."""
    from vlm.distributed import is_main

    check_trackers(report_to)
    callbacks = []
    writer = None
    if "tensorboard" in report_to and is_main():
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"))
        callbacks.append(TensorBoardCallback(writer))
    return [t for t in report_to if t != "tensorboard"], callbacks, writer
