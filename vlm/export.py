"""A trained run as a standalone Hugging Face model folder: a LoRA adapter merged into its base, or a
full run's model, with the processor and where it came from (`cadrecon_export.json`). The folder
loads with `AutoModelForImageTextToText.from_pretrained` alone: no peft, no cadrecon."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from vlm.reports import Exported

EXPORT_FILE = "cadrecon_export.json"


def trained_weights(path: str | Path) -> Path:
    """The weights folder of a run folder (its training_report.json names it), or `path` itself."""
    path = Path(path)
    report = path / "training_report.json"
    if report.is_file():
        return Path(json.loads(report.read_text())["weights"])
    return path


def export_model(source: str | Path, out: str | Path, *, dtype: str | None = None) -> Exported:
    """Writes the standalone model of `source` (a run folder, an adapter or a model folder) to `out`.

    Args:
        dtype: "bfloat16" / "float16" / "float32" to cast the saved weights; None keeps them.

    Raises:
        ValueError: naming `out` when it exists and is not empty, or `source` when it is not a
            trained folder (`vlm.generate.require_trained_folder`).
    """
    import torch
    from peft import PeftModel

    from vlm.generate import load_trained, require_trained_folder

    weights, out = trained_weights(source), Path(out)
    require_trained_folder(weights)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: exists and is not empty; export into a new folder")
    model, processor = load_trained(weights)
    merged = isinstance(model, PeftModel)
    if merged:
        model = model.merge_and_unload()
    if dtype:
        model = model.to(getattr(torch, dtype))
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    report = weights.parent / "training_report.json"
    saved_dtype = str(next(model.parameters()).dtype)
    info = {"source": str(weights.resolve()), "merged_lora": merged, "dtype": saved_dtype,
            "training_report": json.loads(report.read_text()) if report.is_file() else None}
    (tmp / EXPORT_FILE).write_text(json.dumps(info, indent=1) + "\n")
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return {"out": str(out), "merged_lora": merged, "dtype": saved_dtype}
