"""Ingest throughput per format on the real samples: files/s and MB/s, printed as JSON.

Loads each file in-process (one core) and, separately, through the isolated worker pool with 1 and
2 workers (the dataset path), so the isolation overhead is measured in the same run.

    python benchmarks/ingest.py [--realdata ../shared/realdata]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cadlib.errors import CadlibError  # noqa: E402
from cadlib.ingest import detect_format, load_isolated, load_model  # noqa: E402
from cadlib.workers import Status  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    args = ap.parse_args()
    files = [p for kind in ("step", "ifc", "obj", "stl", "deepcad_json", "fusion_json")
             for p in sorted((args.realdata / kind).rglob("*")) if p.is_file() and p.name != "train_val_test_split.json"]
    if not files:
        sys.exit(f"no realdata under {args.realdata}")
    per_fmt: dict[str, dict] = defaultdict(lambda: {"files": 0, "loaded": 0, "bytes": 0, "seconds": 0.0})
    for path in files:
        try:
            fmt = detect_format(path)
        except CadlibError:
            fmt = "not-a-model"
        t = time.perf_counter()
        try:
            load_model(path)
            ok = True
        except CadlibError:
            ok = False
        row = per_fmt[fmt]
        row["seconds"] += time.perf_counter() - t
        row["files"] += 1
        row["loaded"] += ok
        row["bytes"] += path.stat().st_size
    report = {"in_process": {}}
    for fmt, row in sorted(per_fmt.items()):
        s = max(row["seconds"], 1e-9)
        report["in_process"][fmt] = {
            "files": row["files"], "loaded": row["loaded"], "MB": round(row["bytes"] / 1e6, 3),
            "files_per_s": round(row["files"] / s, 1), "MB_per_s": round(row["bytes"] / 1e6 / s, 2),
        }
    total_s = sum(r["seconds"] for r in per_fmt.values())
    report["in_process"]["all"] = {"files": len(files), "files_per_s": round(len(files) / total_s, 1)}
    for workers in (1, 2):
        t = time.perf_counter()
        statuses = defaultdict(int)
        for o in load_isolated(files, workers=workers, timeout=120):
            statuses[o.status.value] += 1
        dt = time.perf_counter() - t
        report[f"isolated_{workers}_workers"] = {"files_per_s": round(len(files) / dt, 1), "seconds": round(dt, 2),
                                                 "outcomes": dict(statuses)}
    report["isolation_overhead_x"] = round(report["in_process"]["all"]["files_per_s"] / report["isolated_1_workers"]["files_per_s"], 2)
    report["speedup_2_vs_1_workers"] = round(report["isolated_2_workers"]["files_per_s"] / report["isolated_1_workers"]["files_per_s"], 2)
    assert all(k in (Status.OK.value, Status.ERROR.value) for k in report["isolated_2_workers"]["outcomes"])
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
