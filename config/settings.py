"""The one settings object of cadrecon: defaults < YAML preset < environment < explicit values.

Environment variables use the prefix ``CADRECON_`` and ``__`` between nested names, e.g.
``CADRECON_DATASET__SHARD_SIZE=128``. The preset is ``config/presets/<name>.yaml``, chosen with
``CADRECON_PRESET`` (default ``demo``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_DIR = Path(__file__).resolve().parent
PRESETS_DIR = CONFIG_DIR / "presets"
VIEWS = ("front", "top", "right", "iso")


class SequenceSettings(BaseModel):
    """The construction-sequence text."""

    bits: int = Field(8, ge=2, le=16, description="quantisation bits of the sequence text")
    max_extrudes: int = Field(10, ge=1, description="DeepCAD's limit on extrudes per model")
    max_commands: int = Field(60, ge=1, description="DeepCAD's limit on commands per model")


class DatasetSettings(BaseModel):
    """Building datasets."""

    shard_size: int = Field(256, ge=1, description="models per Prefect task")
    workers: int = Field(2, ge=1, description="worker processes inside a shard")
    model_timeout_s: float = Field(60.0, gt=0, description="per-model time limit in a worker")
    max_file_mb: float = Field(200.0, gt=0, description="larger input files are refused")
    train_size: int = Field(20, ge=0)
    val_size: int = Field(5, ge=0)
    test_size: int = Field(5, ge=0)
    seed: int = 0


class RenderSettings(BaseModel):
    """Orthographic views."""

    size: int = Field(512, ge=32, le=4096, description="image side in pixels")
    views: list[str] = Field(default_factory=lambda: ["front", "top", "right"])
    style: Literal["shaded", "lines"] = "shaded"
    gl_platform: Literal["egl", "osmesa"] = "egl"

    @field_validator("views")
    @classmethod
    def _known_views(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in VIEWS]
        if bad or not v:
            raise ValueError(f"views must be a non-empty subset of {VIEWS}, got {v}")
        return v


class Settings(BaseSettings):
    """All of cadrecon's settings."""

    model_config = SettingsConfigDict(env_prefix="CADRECON_", env_nested_delimiter="__", extra="ignore")

    preset: str = "demo"
    data_dir: Path = Path("data")
    sequence: SequenceSettings = SequenceSettings()
    dataset: DatasetSettings = DatasetSettings()
    render: RenderSettings = RenderSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        preset = os.environ.get("CADRECON_PRESET", "demo")
        yaml_file = preset_path(preset)
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))


def preset_path(name: str) -> Path:
    """The YAML file of a preset; a clear error lists the presets there are."""
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise ValueError(f"unknown preset {name!r}: expected one of {known} in {PRESETS_DIR}")
    return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (call `get_settings.cache_clear()` after changing env)."""
    return Settings()
