"""What a training run leaves on disk: the LoRA adapter (with its processor, its base recorded so the
folder can move) and, when asked, the adapter merged into its base; the whole model otherwise."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cadlib.atomic import write_text_atomic
from vlm.modes import TrainMode
from vlm.reports import SavedPaths


def save(model, processor, out_dir: str | Path, mode: TrainMode, *, merged: bool = False) -> SavedPaths:
    """Saves what the mode trained: the adapter (with the processor) and, when asked, the merged
    model under LoRA; the whole model otherwise. `weights` names the folder to generate with."""
    out = Path(out_dir)
    if mode is not TrainMode.LORA:
        folder = out / "model"
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        return {"weights": str(folder)}
    adapter = out / "adapter"
    model.save_pretrained(adapter)
    processor.save_pretrained(adapter)
    portable_base(adapter)
    paths: SavedPaths = {"adapter": str(adapter), "weights": str(adapter)}
    if merged:
        folder = out / "merged"
        model.merge_and_unload().save_pretrained(folder)
        processor.save_pretrained(folder)
        paths["merged"] = str(folder)
    return paths


def portable_base(adapter: Path) -> None:
    """Rewrites the adapter's `base_model_name_or_path` when it is a local folder: relative to the
    adapter ("../../base"), so the data folder holding both can move; a hub id stays as it is
    (`vlm.generate.load_trained` resolves it back)."""
    config = adapter / "adapter_config.json"
    cfg = json.loads(config.read_text())
    base = cfg.get("base_model_name_or_path") or ""
    if base and Path(base).is_absolute() and Path(base).exists():
        rel = os.path.relpath(base, adapter)
        cfg["base_model_name_or_path"] = rel if rel.startswith("..") else f"./{rel}"
        write_text_atomic(config, json.dumps(cfg, indent=2, sort_keys=True) + "\n")
