"""cadlib throughput: parse / build / tessellate / text milliseconds per model, printed as JSON.

Runs over the real DeepCAD/Fusion samples in ../shared/realdata (when present) and N synthetic
models (default 500). Times are medians and means per model, on one core.

    python benchmarks/cadlib.py [--synthetic 500] [--realdata ../shared/realdata]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cadlib import (  # noqa: E402
    CadlibError,
    from_text,
    load_json_sequence,
    normalize,
    occ,
    parse_sequence,
    to_text,
)
from cadlib.synth import generate  # noqa: E402


def _ms(fn):
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1000.0


def measure(items) -> dict:
    """items: iterable of (name, loader) where loader() returns a CadSequence."""
    times = {"parse": [], "build": [], "tessellate": [], "to_text": [], "from_text": []}
    failed = []
    for name, load in items:
        try:
            seq, t = _ms(load)
            times["parse"].append(t)
            shape, t = _ms(lambda seq=seq: occ.build_solid(seq))
            times["build"].append(t)
            _, t = _ms(lambda shape=shape: occ.tessellate(shape))
            times["tessellate"].append(t)
            norm = normalize(seq)
            text, t = _ms(lambda norm=norm: to_text(norm))
            times["to_text"].append(t)
            _, t = _ms(lambda text=text: from_text(text))
            times["from_text"].append(t)
        except CadlibError as exc:
            failed.append(f"{name}: {exc}")
    return {
        "models": len(times["parse"]),
        "failed": failed,
        "ms_per_model": {
            k: {"median": round(statistics.median(v), 3), "mean": round(statistics.fmean(v), 3)}
            for k, v in times.items()
            if v
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--synthetic", type=int, default=500)
    ap.add_argument("--realdata", type=Path, default=ROOT.parent / "shared" / "realdata")
    args = ap.parse_args()
    report = {"python": platform.python_version(), "machine": platform.machine()}
    files = sorted(args.realdata.glob("deepcad_json/*/*.json")) + sorted(args.realdata.glob("fusion_json/*/*.json"))
    files = [f for f in files if f.name != "train_val_test_split.json"]
    if files:
        report["realdata"] = measure((f.name, lambda f=f: load_json_sequence(f)) for f in files)
        report["realdata"]["refused_cleanly"] = len(report["realdata"].pop("failed"))
    synth = generate(args.synthetic, seed=0)
    report["synthetic"] = measure((n, lambda d=d, n=n: parse_sequence(d, name=n)) for n, d in synth)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
