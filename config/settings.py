"""The one settings object of cadrecon: defaults < YAML preset < environment < explicit values.

Environment variables use the prefix ``CADRECON_`` and ``__`` between nested names, e.g.
``CADRECON_DATASET__SHARD_SIZE=128``. The preset is ``config/presets/<name>.yaml``, chosen with
``CADRECON_PRESET`` (default ``demo``).
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from cadlib.views import View
from cadlib.vocabulary import Layout, SourceKind, Style
from config.yaml_files import check_keys, read_mapping

CONFIG_DIR = Path(__file__).resolve().parent
PRESETS_DIR = CONFIG_DIR / "presets"
VIEWS = tuple(v.value for v in View)


class SequenceSettings(BaseModel):
    """The construction-sequence text."""

    bits: int = Field(8, ge=2, le=16, description="quantisation bits of the sequence text")
    min_iou: float = Field(0.95, ge=0.0, le=1.0, description="a model whose quantised solid overlaps its source's "
                           "with a lower IoU (or has another number of bodies) is dropped: QuantisationChangesTopology")
    max_extrudes: int = Field(10, ge=1, description="DeepCAD's limit on extrudes per model")
    max_commands: int = Field(60, ge=1, description="DeepCAD's limit on commands per model")


DEEPCAD_URL = "http://www.cs.columbia.edu/cg/deepcad/data.tar"
"""The official DeepCAD archive (cad_json/ and train_val_test_split.json under data/)."""


class DatasetSettings(BaseModel):
    """Building datasets (see flows/build_dataset.py)."""

    name: str | None = Field(None, description="dataset folder under <data_dir>/datasets (default: the preset): "
                             "letters, digits, '.', '_', '-', at most 64, no '..'")
    source: SourceKind = SourceKind.SYNTHETIC
    path: Path | None = Field(None, description="deepcad: the download root; files: the folder to scan")
    url: str = Field(DEEPCAD_URL, description="deepcad: archive to download when `path` is missing")
    sha256: str | None = Field(None, description="deepcad: expected checksum of the archive")
    download: bool = Field(False, description="deepcad: download the archive when `path` holds no cad_json/")
    shard_size: int = Field(256, ge=1, description="models per Prefect task")
    workers: int = Field(2, ge=1, description="worker processes (shared by the shards running at once)")
    concurrency: int = Field(4, ge=1, description="shards in flight at once (they share the `workers` processes)")
    task_runner: Literal["threads", "dask", "ray"] = "threads"
    runner_address: str | None = Field(None, description="dask scheduler / ray cluster; none: a local one")
    model_timeout_s: float = Field(60.0, gt=0, description="per-model time limit in a worker")
    max_file_mb: float = Field(200.0, gt=0, description="larger input files are refused")
    train_size: int = Field(20, ge=0)
    val_size: int = Field(5, ge=0)
    test_size: int = Field(5, ge=0)
    seed: int = 0
    target: Literal["sequence", "cadquery"] = Field("sequence", description="what the assistant answers")
    layout: Layout = Field(Layout.TILE, description="one 2x2 tiled image per model (top|iso over "
                                                "front|right, cadrille's layout), or a sample per view")
    vary_prompts: bool = Field(True, description="varied, seeded prompt wordings; false: always the first template")
    max_tokens: int = Field(2048, ge=16, description="longer samples are dropped (and counted), never truncated")
    tokenizer: str | None = Field(None, description="tokenizer (HF id or folder) for the length filter; none: estimate")


    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str | None) -> str | None:
        if v is not None and (not re.fullmatch(DATASET_NAME_PATTERN, v) or ".." in v):
            raise ValueError(f"dataset name {v!r}: letters, digits, '.', '_', '-' (at most 64, no '..', no '/'): "
                             "a folder under <data_dir>/datasets")
        return v


DATASET_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
"""A dataset's folder name: it stays under <data_dir>/datasets (the REST API's names too)."""


class RenderSettings(BaseModel):
    """Orthographic views."""

    size: int = Field(512, ge=32, le=4096, description="image side in pixels")
    views: list[str] = Field(default_factory=lambda: ["front", "top", "right", "iso"])
    style: Style = Style.SHADED
    gl_platform: Literal["egl", "osmesa"] = "egl"

    @field_validator("views")
    @classmethod
    def _known_views(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in VIEWS]
        if bad or not v:
            raise ValueError(f"views must be a non-empty subset of {VIEWS}, got {v}")
        return v


class ScheduleSettings(BaseModel):
    """The nightly incremental dataset build (its parameters travel with the schedule)."""

    nightly_cron: str = Field("0 2 * * *", description="cron of the nightly build (server time zone)")
    timezone: str = "UTC"
    preset: str = Field("demo", description="preset (or YAML file) the nightly build runs")
    source: SourceKind | None = None
    path: str | None = Field(None, description="the folder the nightly build reads (new files are picked up)")
    active: bool = True


class ApiSettings(BaseModel):
    """The REST API (`cadrecon api`) that starts and reads Prefect runs."""

    host: str = "127.0.0.1"
    port: int = Field(7001, ge=1, le=65535, description="the seed's port")
    token: SecretStr | None = Field(
        None, description="bearer token for mutating endpoints; none: one is generated at start-up and written to "
                          "<data_dir>/api-token (mode 0600)")
    protect_reads: bool = Field(False, description="require the token on GET endpoints too")
    max_upload_mb: float = Field(100.0, gt=0, description="larger uploads to POST /reconstruct answer 413")
    max_body_kb: float = Field(1024.0, gt=0, description="larger JSON or form bodies answer 413, checked as they stream")
    health_max_age_s: float = Field(5.0, gt=0, description="/health answers from a background check of Prefect at most this old")
    upload_suffixes: list[str] = Field(
        default_factory=lambda: [".step", ".stp", ".ifc", ".obj", ".stl", ".json", ".ply", ".off", ".glb", ".gltf"],
        description="file suffixes POST /reconstruct accepts")
    model: str | None = Field(None, description="default adapter folder for POST /reconstruct")
    recipe: str = Field("tiny_cpu", description="training recipe the training endpoints start from")
    wait_max_s: float = Field(600.0, ge=0, description="the most a request may ask to wait for its run")
    dead_run_after_s: float = Field(40.0, ge=15, description="a Running or Cancelling run whose process has not "
                                    "beaten this long (flows beat every 10 s) is dead: the next request for its "
                                    "dataset ends it Crashed and starts anew")
    head_timeout_s: float = Field(10.0, gt=0, description="a connection that has not sent a whole request head "
                                  "(line and headers, at most 64 KiB) this long after connecting or its last "
                                  "response is closed")

    @field_validator("upload_suffixes")
    @classmethod
    def _dotted(cls, v: list[str]) -> list[str]:
        return [s.lower() if s.startswith(".") else f".{s.lower()}" for s in v]


class Settings(BaseSettings):
    """All of cadrecon's settings."""

    model_config = SettingsConfigDict(env_prefix="CADRECON_", env_nested_delimiter="__", extra="ignore")

    preset: str = "demo"
    data_dir: Path = Path("data")
    sequence: SequenceSettings = SequenceSettings()
    dataset: DatasetSettings = DatasetSettings()
    render: RenderSettings = RenderSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    api: ApiSettings = ApiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _yaml_override.get() or preset_path(os.environ.get("CADRECON_PRESET", "demo"))
        check_keys(yaml_file, read_mapping(yaml_file), cls)  # one line naming the file, before any work
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))


_yaml_override: ContextVar[Path | None] = ContextVar("cadrecon_yaml", default=None)


def preset_path(name: str | Path) -> Path:
    """The YAML file of a preset name, or `name` itself when it is a YAML file; a clear error lists
    the presets there are."""
    if str(name).endswith((".yaml", ".yml")):
        path = Path(name)
        if not path.is_file():
            raise ValueError(f"{path}: no such settings file")
        return path
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise ValueError(f"unknown preset {name!r}: expected one of {known} (config/presets/) or a YAML file")
    return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (call `get_settings.cache_clear()` after changing env)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ValueError(one_line(exc, preset_path(os.environ.get("CADRECON_PRESET", "demo")))) from None


def one_line(exc: ValidationError, source: str | Path) -> str:
    """A settings validation error as one line: where the values came from, the first bad key and why."""
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first.get("loc", ())) or "settings"
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source}: {where}: {first.get('msg')} (got {first.get('input')!r}){more}"


def deep_merge(base: dict, over: dict) -> dict:
    """`over` on top of `base`, nested dicts merged key by key (neither is changed)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_settings(preset: str | Path | None = None, **overrides) -> Settings:
    """Settings from a preset name or YAML file (default: `CADRECON_PRESET`), the environment, then
    `overrides` (nested sections as dicts, e.g. ``dataset={"shard_size": 8}``).

    Environment variables still win over the YAML file, as everywhere."""
    yaml_file = preset_path(preset if preset is not None else os.environ.get("CADRECON_PRESET", "demo"))
    token = _yaml_override.set(yaml_file)
    try:
        base = Settings()
    except ValidationError as exc:
        raise ValueError(one_line(exc, f"{yaml_file} (or a CADRECON_* variable)")) from None
    finally:
        _yaml_override.reset(token)
    if not overrides:
        return base
    try:
        return Settings.model_validate(deep_merge(base.model_dump(), overrides))
    except ValidationError as exc:
        raise ValueError(one_line(exc, "the values given")) from None
