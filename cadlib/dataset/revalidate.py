"""Validating a finished dataset again from its files alone (`cadrecon dataset validate`)."""

from __future__ import annotations

from typing import cast

from cadlib.dataset.build import Progress, Runner
from cadlib.dataset.layout import SPLITS, DatasetLayout, read_json, write_json_atomic
from cadlib.dataset.manifest import read_manifest
from cadlib.dataset.reports import Failure, LlavaRecord, Validation
from cadlib.dataset.validate import ValidateJob, check_splits, failure_table, validate_model
from cadlib.vocabulary import Layout


def revalidate(layout: DatasetLayout, run: Runner, progress: Progress | None = None) -> Validation:
    """Re-checks every image and target of the split files and the split-level rules; updates
    the checks in validation.json and returns them."""
    info = layout.read_info()
    cfg = info["config"]
    size = cfg["render"]["size"] * (2 if cfg.get("layout") == Layout.TILE else 1)
    bits = cfg["sequence"]["bits"]
    signatures = {r.id: r.signature for r in read_manifest(layout.manifest) if r.ok}
    structural, stats = check_splits(layout, signatures)
    by_model: dict[str, list[LlavaRecord]] = {}
    for split in SPLITS:
        path = layout.split_file(split, "json")
        for s in read_json(path) if path.is_file() else []:
            by_model.setdefault(s["id"].rsplit("_", 1)[0], []).append(s)
    jobs = [ValidateJob(id=mid, images=tuple(str(layout.root / s["image"]) for s in samples), size=(size, size),
                        target=samples[0]["conversations"][1]["value"], target_kind=cfg.get("target", "sequence"),
                        text_path=str(layout.source_text(mid)), bits=bits)
            for mid, samples in sorted(by_model.items())]
    failures: list[Failure] = []
    for o in run(validate_model, jobs):
        if not o.ok:
            failures.append({"id": o.item.id, "stage": "validate", "error_class": o.error_class, "error": o.message})
        else:
            structural += [[c, f"{o.item.id}: {m}"] for c, m in o.value["structural"]]
            failures += [{"id": o.item.id, "stage": "validate", "error_class": c, "error": m}
                         for c, m in o.value["failures"]]
        if progress:
            progress(1)
    validation = cast(Validation, read_json(layout.validation) if layout.validation.is_file() else {})
    validation.update({"ok": not structural, "structural_errors": structural[:200],
                       "structural_error_count": len(structural), "revalidated_failures": failure_table(failures)})
    validation.setdefault("stats", {}).update(stats)
    write_json_atomic(layout.validation, validation)
    return validation
