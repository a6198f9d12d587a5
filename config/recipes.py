"""Training recipes (config/training/*.yaml), validated by one pydantic model."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from config.settings import deep_merge

TRAINING_DIR = Path(__file__).resolve().parent / "training"
TINY = "tiny"
"""The recipe's `model` value that means: the tiny offline Idefics3 built for the dataset."""


class LoraRecipe(BaseModel):
    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1)
    vision: bool = Field(False, description="adapt the vision tower too (as OpenECAD does)")


class TestRunRecipe(BaseModel):
    """The seed's convergence test: few samples, few epochs."""

    train_samples: int = Field(100, ge=1)
    val_samples: int = Field(20, ge=0)
    epochs: int = Field(5, ge=1)


class TrainingRecipe(BaseModel):
    """One model's fine-tuning recipe."""

    model_config = {"extra": "forbid"}

    name: str
    description: str = ""
    model: str = Field(..., description="HF id, local folder, or 'tiny' (built offline from the dataset)")
    lora: LoraRecipe = LoraRecipe()
    epochs: float = Field(3, gt=0)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    max_length: int | None = Field(None, ge=16)
    device: Literal["auto", "cuda", "mps", "cpu"] = "auto"
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    gradient_checkpointing: bool = False
    save_merged: bool = False
    seed: int = 0
    test_run: TestRunRecipe = TestRunRecipe()


def recipe_path(name: str | Path) -> Path:
    """A recipe's YAML file by name (config/training/<name>.yaml) or path."""
    path = Path(name) if str(name).endswith((".yaml", ".yml")) else TRAINING_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in TRAINING_DIR.glob("*.yaml"))
        raise ValueError(f"unknown training recipe {name!r}: expected one of {known} or a YAML file")
    return path


def load_recipe(name: str | Path, overrides: dict | None = None) -> TrainingRecipe:
    """A recipe by name or YAML file, with `overrides` (nested, e.g. ``{"lora": {"r": 16}}``) on top."""
    path = recipe_path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return TrainingRecipe.model_validate(deep_merge(data, overrides or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "recipe"
        raise ValueError(f"{path}: {where}: {err['msg']}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
