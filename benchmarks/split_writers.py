"""Memory of writing a split's LLaVA JSON and JSONL: the whole-list writers (a list of records and
the file's text in memory) against the streamed ones (`cadlib.dataset.writers`), on the same
synthetic samples, in one process. Python's allocator keeps what a peak took, so the peak is what
a dataset build's finalize keeps in its RSS afterwards.

    python benchmarks/split_writers.py [--samples 50000] [--target-chars 1200]

Prints one JSON object: traced peak MB of each way, their ratio, and seconds.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _samples(n: int, chars: int) -> list[dict]:
    rng = random.Random(0)
    words = ["sketch", "loop", "line", "arc", "circle", "extrude", "new", "cut", "join"]
    out = []
    for i in range(n):
        target = " ".join(rng.choice(words) + f" {rng.randrange(256)}" for _ in range(chars // 10))[:chars]
        out.append({"id": f"{i:08d}_tile", "model_id": f"{i:08d}", "split": "train", "view": "tile",
                    "image": f"images/{i:08d}_tile.png", "prompt": "<image>\nReconstruct the part.", "target": target,
                    "tokens": chars // 3})
    return out


def _measure(fn) -> tuple[float, float]:
    """(traced peak MB, seconds of an untraced run)."""
    t = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, seconds


def main(argv: list[str] | None = None) -> int:
    from cadlib.atomic import write_json_atomic, write_text_atomic
    from cadlib.dataset.writers import llava_record, messages_record, write_json_array, write_jsonl

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=50000)
    p.add_argument("--target-chars", type=int, default=1200)
    a = p.parse_args(argv)
    samples = _samples(a.samples, a.target_chars)
    out = Path(tempfile.mkdtemp())

    def whole() -> None:
        write_json_atomic(out / "w.json", [llava_record(s) for s in samples])
        write_text_atomic(out / "w.jsonl", "".join(json.dumps(messages_record(s), ensure_ascii=False) + "\n"
                                                   for s in samples))

    def streamed() -> None:
        write_json_array(out / "s.json", (llava_record(s) for s in samples))
        write_jsonl(out / "s.jsonl", (messages_record(s) for s in samples))

    whole_mb, whole_s = _measure(whole)
    stream_mb, stream_s = _measure(streamed)
    same = all((out / f"w.{e}").read_bytes() == (out / f"s.{e}").read_bytes() for e in ("json", "jsonl"))
    print(json.dumps({"samples": a.samples, "file_mb": round(sum((out / f"s.{e}").stat().st_size
                                                                for e in ("json", "jsonl")) / 2**20, 1),
                      "whole_list_peak_mb": round(whole_mb, 1), "streamed_peak_mb": round(stream_mb, 2),
                      "peak_ratio": round(whole_mb / max(stream_mb, 1e-9), 1),
                      "whole_list_s": round(whole_s, 2), "streamed_s": round(stream_s, 2), "same_bytes": same},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
