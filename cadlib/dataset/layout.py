"""Where everything of one dataset lives on disk.

One folder per dataset, relocatable (every path inside is relative to it)::

    manifest.jsonl          one row per source model: id, source, hashes, split, status, error
    extract.json            what extract saw: counts, duplicates, the leakage report
    sources/<id>.txt        the construction-sequence text of every sequence model
    images/<id>_<view>.png  the views (or images/<id>_tile.png)
    shards/<stage>-<n>.json each shard's report (per-model status and errors)
    train.json val.json test.json          LLaVA / TinyLLaVA conversations
    train.jsonl ...                        typed-content messages + images (TRL, chat templates)
    train.parquet ...                      images embedded (datasets.Image), Hub-ready
    unlabeled.json          models with views but no construction sequence (meshes, STEP)
    cadrecon.json           what the dataset is: counts, source, config, versions
    dataset_info.json       LLaMA-Factory's registry of the splits (dataset_dir=<this folder>)
    validation.json README.md contact_sheet.png   checks; the card (Hub YAML header); a preview
    .cache/                 build state (cached task results, file times, run timings): not data

Every file is written to a temporary name and renamed (`cadlib.atomic`, re-exported here), so a
killed build never leaves a half-written file behind that a re-run would trust.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cadlib.atomic import atomic_path, write_bytes_atomic, write_json_atomic, write_text_atomic
from cadlib.dataset.reports import DatasetInfo, LlavaRecord

__all__ = ["SPLITS", "portable_text", "STAGES", "DataDir", "DatasetLayout", "Stage", "atomic_path", "read_json", "write_bytes_atomic", "write_json_atomic",
           "write_text_atomic"]

SPLITS = ("train", "val", "test")
LOCKS = ".locks"
"""The folder of lock files beside the datasets (`cadlib.dataset.lock`)."""
class Stage(StrEnum):
    """The stages of a dataset build, in order (a member equals, hashes and prints as its name)."""

    EXTRACT = "extract"
    RENDER = "render"
    CONVERT = "convert"
    VALIDATE = "validate"


STAGES = (Stage.RENDER, Stage.CONVERT, Stage.VALIDATE)
"""The stages that run per shard, after extract."""


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@dataclass(frozen=True, slots=True)
class DataDir:
    """The data folder (`settings.data_dir`): datasets, training runs, models built from config."""

    root: Path

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def locks(self) -> Path:
        """The build and start locks shared by every process using this data folder."""
        return self.datasets / LOCKS

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def run(self, name: str) -> Path:
        """A training run's folder (checkpoints, weights, training_report.json)."""
        return self.runs / name

    def model(self, name: str) -> Path:
        """A model built from config (`vlm.tiny`), shared by the runs that train it."""
        return self.root / "models" / name


@dataclass(frozen=True, slots=True)
class DatasetLayout:
    """The paths of one dataset folder."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.jsonl"

    @property
    def extract_report(self) -> Path:
        return self.root / "extract.json"

    @property
    def sources(self) -> Path:
        return self.root / "sources"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def raw(self) -> Path:
        """Generated source files (the synthetic source)."""
        return self.root / "raw"

    @property
    def cache(self) -> Path:
        return self.root / ".cache"

    @property
    def origin(self) -> Path:
        """What the dataset is built from (preset, source kind, source path): `catalog.claim_origin`."""
        return self.cache / "origin.json"

    @property
    def build_runs(self) -> Path:
        """One summary per finished build (`<time>.json`), newest last by name."""
        return self.cache / "runs"

    def relative(self, path: str | Path) -> str:
        """`path` as the dataset's files record it: relative to the dataset folder (`../../src`), so
        no published or shared file holds the build machine's absolute paths."""
        return os.path.relpath(Path(path).resolve(), self.root.resolve())

    def source_text(self, model_id: str) -> Path:
        return self.sources / f"{model_id}.txt"

    def kept_solid(self, model_id: str) -> Path:
        """The quantised solid extract built for a sequence model, until render has drawn it
        (`cadlib.dataset.solids`)."""
        return self.cache / "solids" / f"{model_id}.brep"

    def image(self, model_id: str, view: str) -> Path:
        return self.images / f"{model_id}_{view}.png"

    def shard_report(self, stage: str, index: int) -> Path:
        return self.root / "shards" / f"{stage}-{index:05d}.json"

    def split_file(self, split: str, ext: str) -> Path:
        return self.root / f"{split}.{ext}"

    def read_split(self, split: str) -> list[LlavaRecord]:
        """The LLaVA records of a split (`<split>.json`), as the dataset wrote them.

        Raises:
            FileNotFoundError: the split file is not there (the dataset is not built).
        """
        return read_json(self.split_file(split, "json"))

    @property
    def info(self) -> Path:
        """cadrecon's description of the dataset (name, counts, source, config, versions)."""
        return self.root / "cadrecon.json"

    @property
    def registry(self) -> Path:
        """LLaMA-Factory's dataset registry (`dataset_dir=<this folder>`)."""
        return self.root / "dataset_info.json"

    def read_info(self) -> DatasetInfo:
        """`cadrecon.json`; a dataset built before it was renamed keeps it in dataset_info.json."""
        if self.info.is_file():
            return read_json(self.info)
        legacy = read_json(self.registry)
        if "config" not in legacy:
            raise FileNotFoundError(f"{self.info}: no such file (the dataset_info.json here is LLaMA-Factory's registry)")
        return legacy

    @property
    def validation(self) -> Path:
        return self.root / "validation.json"

    @property
    def card(self) -> Path:
        return self.root / "README.md"

    @property
    def contact_sheet(self) -> Path:
        return self.root / "contact_sheet.png"

    @property
    def unlabeled(self) -> Path:
        return self.root / "unlabeled.json"


def portable_text(text: str, *roots: str | Path) -> str:
    """`text` (an error message) with each of `roots`' absolute path taken off the paths in it:
    `/home/me/parts/a.stl: ...` reads `a.stl: ...` with the source root given."""
    for root in roots:
        for form in {str(root), str(Path(root).resolve())}:
            if form not in ("", ".", "/"):
                text = text.replace(form.rstrip("/") + "/", "")
    return text
