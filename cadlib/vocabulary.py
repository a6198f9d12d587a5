"""The words the layers share, one `StrEnum` per vocabulary, defined once here at the bottom so that
cadlib, vlm, config, tasks, flows and the API all spell them alike. The values are what settings
files, dataset files, the CLI and the REST API write and read (a `StrEnum` member is its value:
it compares, hashes, formats and serialises to JSON as that string).

Vocabularies that one module owns stay with it: a dataset's stages (`cadlib.dataset.layout.Stage`),
a model's status and kind (`cadlib.dataset.manifest`), views (`cadlib.views.View`), artifact
suffixes (`tasks.artifacts.Suffix`).
"""

from __future__ import annotations

from enum import StrEnum


class SourceKind(StrEnum):
    """Where a dataset's models come from."""

    SYNTHETIC = "synthetic"  # cadlib.synth's parametric families, generated
    DEEPCAD = "deepcad"  # the DeepCAD archive (its cad_json files and its split)
    FILES = "files"  # a folder of CAD and mesh files


class Style(StrEnum):
    """How views are drawn."""

    SHADED = "shaded"  # flat-shaded faces (pyrender, or the numpy rasteriser)
    LINES = "lines"  # exact hidden-line drawing of the B-rep, hidden edges dashed


class TrainMode(StrEnum):
    """How much of a base model trains (`vlm.modes`)."""

    FULL = "full"  # every weight
    LORA = "lora"  # LoRA adapters
    FREEZE_VISION = "freeze_vision"  # everything but the vision tower


class RunKind(StrEnum):
    """Which training a run is: the recipe's quick convergence test or its full training."""

    TEST_RUN = "test-run"
    FULL = "full"


class Verdict(StrEnum):
    """A training run's verdict on its losses (`vlm.verdict.verdict` gives the rule)."""

    CONVERGED = "converged"
    IMPROVING = "improving"
    NOT_CONVERGING = "not converging"
    TOO_FEW_EPOCHS = "too few epochs to judge"


class Layout(StrEnum):
    """How a model's views become samples."""

    TILE = "tile"  # one 2x2 image per model (top | iso over front | right), cadrille's layout
    PER_VIEW = "per_view"  # a sample per view


class Device(StrEnum):
    """Where training and generation run (`vlm.devices` resolves AUTO)."""

    AUTO = "auto"
    CUDA = "cuda"
    MPS = "mps"
    CPU = "cpu"


class TinyVision(StrEnum):
    """The vision tower of a model built from config (`vlm.tiny`)."""

    CONV = "conv"  # a small convolutional tower
    VIT = "vit"  # Idefics3's ViT


class Family(StrEnum):
    """A vision-language model's architecture family (its `config.model_type`): what its
    processor takes (`vlm.families`)."""

    IDEFICS3 = "idefics3"
    SMOLVLM = "smolvlm"
    QWEN2_VL = "qwen2_vl"
    QWEN2_5_VL = "qwen2_5_vl"


QWEN_FAMILIES = frozenset({Family.QWEN2_VL, Family.QWEN2_5_VL})
"""The families that size images by pixel counts (min_pixels / max_pixels) and whose processor has
a video part."""
