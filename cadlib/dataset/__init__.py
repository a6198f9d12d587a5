"""Building VLM datasets from CAD sources (no Prefect): extract -> render -> convert -> validate.

The stages are plain functions over shards of models (`cadlib.dataset.build`); flows/build_dataset.py
orchestrates them. The on-disk layout is in `cadlib.dataset.layout`.
"""

from cadlib.dataset.assembly import assemble
from cadlib.dataset.build import BuildConfig, convert_shard, render_shard, validate_shard
from cadlib.dataset.download import DownloadError, download, fetch_deepcad, unpack
from cadlib.dataset.extract import (
    DescribeJob,
    Shard,
    dedup,
    describe_items,
    describe_model,
    leakage_report,
    make_shards,
    mesh_signature,
    sample_official,
    split_counts,
    split_exact,
    split_stable,
)
from cadlib.dataset.layout import SPLITS, STAGES, DatasetLayout, Stage, read_json, write_json_atomic
from cadlib.dataset.manifest import (
    ModelKind,
    ModelRecord,
    ModelStatus,
    read_manifest,
    write_manifest,
)
from cadlib.dataset.report import contact_sheet, write_reports
from cadlib.dataset.sources import (
    SourceItem,
    find_deepcad,
    list_deepcad,
    list_files,
    write_synthetic_source,
)
from cadlib.dataset.tokens import estimate_tokens
from cadlib.dataset.validate import ValidateJob, check_sample, check_splits, validate_model

__all__ = [
    "SPLITS",
    "STAGES",
    "Stage",
    "BuildConfig",
    "DatasetLayout",
    "DescribeJob",
    "DownloadError",
    "ModelKind",
    "ModelRecord",
    "ModelStatus",
    "Shard",
    "SourceItem",
    "ValidateJob",
    "assemble",
    "check_sample",
    "check_splits",
    "contact_sheet",
    "convert_shard",
    "dedup",
    "describe_items",
    "describe_model",
    "download",
    "estimate_tokens",
    "fetch_deepcad",
    "find_deepcad",
    "leakage_report",
    "list_deepcad",
    "list_files",
    "make_shards",
    "mesh_signature",
    "read_json",
    "read_manifest",
    "render_shard",
    "sample_official",
    "split_counts",
    "split_exact",
    "split_stable",
    "unpack",
    "validate_model",
    "validate_shard",
    "write_json_atomic",
    "write_manifest",
    "write_reports",
    "write_synthetic_source",
]
