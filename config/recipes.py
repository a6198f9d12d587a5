"""Training recipes (config/training/*.yaml), validated by one pydantic model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from cadlib.vocabulary import QWEN_FAMILIES, Device, Family, TinyVision, TrainMode
from config.settings import deep_merge
from config.yaml_files import check_keys, read_mapping

TRAINING_DIR = Path(__file__).resolve().parent / "training"
TINY = "tiny"
"""The recipe's `model` value that means: the tiny offline Idefics3 built for the dataset."""


class LoraRecipe(BaseModel):
    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1)
    vision: bool = Field(False, description="adapt the vision tower too (as OpenECAD does)")


class ImageBudget(BaseModel):
    """How many pixels (and so image tokens) the model's processor gives a tiled view image.

    Qwen2-VL / Qwen2.5-VL: `min_pixels` / `max_pixels` (the image is resized to fit, 28x28 px per
    token after merging); Idefics3 / SmolVLM: `longest_edge` of the resized image and whether
    it is split into tiles (`splitting`: off for a 2x2 tile of small views, which one block shows).
    """

    model_config = {"extra": "forbid"}

    min_pixels: int | None = Field(None, ge=28 * 28)
    max_pixels: int | None = Field(None, ge=28 * 28)
    longest_edge: int | None = Field(None, ge=32)
    splitting: bool | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} is above max_pixels {self.max_pixels}")
        return self


class TinyRecipe(BaseModel):
    """The sizes of the model built from config (`vlm.tiny.TinyShape`) when `model` is 'tiny'."""

    model_config = {"extra": "forbid"}

    image_size: int = Field(256, ge=32)
    patch_size: int = Field(16, ge=2)
    scale: int = Field(2, ge=1)
    vision_hidden: int = Field(128, ge=32)
    vision_layers: int = Field(2, ge=1)
    hidden: int = Field(256, ge=32)
    layers: int = Field(4, ge=1)
    heads: int = Field(4, ge=1)
    mlp_ratio: int = Field(4, ge=1, description="the language model's MLP width over hidden")
    vocab_size: int = Field(1536, ge=256)
    vision: TinyVision = Field(TinyVision.CONV, description="a convolutional tower, or Idefics3's ViT")


class TestRunRecipe(BaseModel):
    """The seed's convergence test: few samples, few epochs."""

    train_samples: int = Field(100, ge=1)
    val_samples: int = Field(20, ge=0)
    epochs: int = Field(5, ge=1)


class SelectionRecipe(BaseModel):
    """Model selection by held-out IoU (vlm/selection.py): off unless every_steps or every_minutes is set."""

    model_config = {"extra": "forbid"}

    every_steps: int | None = Field(None, ge=1, description="decode and score the val subset every N optimizer steps")
    every_minutes: float | None = Field(None, gt=0, description="... or every N minutes of training")
    val_models: int = Field(24, ge=1, description="how many val parts (the split's first, one per part)")
    patience: int = Field(4, ge=0, description="evaluations without improvement before the run stops (0: never)")
    min_delta: float = Field(0.002, ge=0, description="the least rise of the score that counts as an improvement")
    workers: int = Field(2, ge=1, description="processes that build and score the answers")


class TrainingRecipe(BaseModel):
    """One model's fine-tuning recipe."""

    model_config = {"extra": "forbid"}

    name: str
    description: str = ""
    model: str = Field(..., description="HF id, local folder, or 'tiny' (built offline from the dataset)")
    family: Family = Field(..., description="the model's architecture family (what its processor takes)")
    mode: TrainMode = Field(
        ..., description="full: every weight trains (a model built from config); lora: adapters on a pretrained "
        "base; freeze_vision: everything but the vision tower")
    image: ImageBudget = ImageBudget()
    tiny: TinyRecipe | None = Field(None, description="model 'tiny': its sizes")
    lora: LoraRecipe = LoraRecipe()
    epochs: float = Field(3, gt=0)
    max_minutes: float | None = Field(None, gt=0, description="a time budget: the learning rate follows the clock "
                                      "and training stops when it is spent (epochs then only bound it)")
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    max_length: int | None = Field(None, ge=16)
    number_smoothing: float = Field(0.0, ge=0, le=64, description="ordinal targets for number tokens: a Gaussian "
                                    "of this standard deviation (quantisation steps) over the numbers instead of "
                                    "one-hot (vlm/number_loss.py); 0: plain cross-entropy. Needs a tokenizer with "
                                    "every number one token (the 'tiny' model's)")
    vision_lr_scale: float = Field(1.0, gt=0, le=10, description="the vision tower's learning rate as a share of "
                                   "learning_rate (vlm/optimizer.py); a tower trained from scratch at the language "
                                   "model's rate collapses and the model stops reading its images (vlm/image_use.py)")
    device: Device = Device.AUTO
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    gradient_checkpointing: bool | Literal["auto"] = Field(
        False, description="recompute the activations of the layers that train (never of frozen ones: "
        "vlm/checkpointing.py); auto: only where a micro-batch does not fit without it (tried on CUDA together "
        "with max_tokens_per_batch; without a token budget, or off CUDA, auto is off)")
    max_tokens_per_batch: Annotated[int, Field(ge=16)] | Literal["auto"] | None = Field(
        None, description="micro-batches of at most this many padded tokens, bucketed by length, with gradient "
        "accumulation keeping batch_size x grad_accum samples a step (vlm/token_batches.py); auto: the largest "
        "that fits (CUDA); none: batch_size samples a micro-batch")
    save_merged: bool = False
    seed: int = 0
    report_to: list[Literal["tensorboard", "mlflow"]] = Field(
        default_factory=lambda: ["tensorboard"], description="where metrics go besides the Prefect UI: TensorBoard "
        "event files under <run>/tensorboard (offline), MLflow (its MLFLOW_TRACKING_URI, default ./mlruns); [] none")
    logging_steps: int | None = Field(None, ge=1, description="a log row and tracker point every N optimizer steps "
                                      "(default: about 20 per epoch)")
    test_run: TestRunRecipe = TestRunRecipe()
    selection: SelectionRecipe = SelectionRecipe()
    group_by_length: bool = Field(False, description="batches of similar length (less padding)")

    @model_validator(mode="after")
    def _mode_fits_base(self):
        if self.model == TINY:
            if self.mode != "full":
                raise ValueError(f"mode {str(self.mode)!r} for the model built from config ('tiny'): its weights are "
                                 "random, nothing for LoRA or a frozen vision tower to build on; use mode 'full'")
            if self.family != Family.IDEFICS3:
                raise ValueError("the model built from config ('tiny') is an Idefics3: set family 'idefics3'")
        elif self.tiny is not None:
            raise ValueError(f"'tiny' sizes are for model 'tiny', not {self.model!r}")
        qwen = self.family in QWEN_FAMILIES
        if qwen and self.image.longest_edge is not None:
            raise ValueError(f"family {self.family} sizes images by min_pixels/max_pixels, not longest_edge")
        if not qwen and (self.image.min_pixels or self.image.max_pixels):
            raise ValueError(f"family {self.family} sizes images by longest_edge, not min_pixels/max_pixels")
        return self


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
    data = read_mapping(path)
    check_keys(path, data, TrainingRecipe)
    try:
        recipe = TrainingRecipe.model_validate(data)  # the file alone: its own errors name it
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "recipe"
        raise ValueError(f"{path}: {where}: {err['msg']}") from None
    if not overrides:
        return recipe
    try:
        return TrainingRecipe.model_validate(deep_merge(data, overrides))
    except ValidationError as exc:  # then the values given on top (--minutes, a REST config)
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "recipe"
        raise ValueError(f"{where} {err.get('input')!r}: {err['msg']} (a value given over the recipe "
                         f"{path.stem})") from None
