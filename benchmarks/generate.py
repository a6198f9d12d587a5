"""Generation throughput with and without grammar-constrained decoding: sequences/s, ms per token,
the constraint's overhead per token, and the parse rate of each.

    python benchmarks/generate.py [--adapter data/runs/demo-tiny_cpu-test/adapter] [--n 50]

The adapter defaults to the one `make demo` trains; images are the first views of its dataset's
test split. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--adapter", default=str(ROOT / "data/runs/demo-tiny_cpu-test/adapter"))
    ap.add_argument("--n", type=int, default=50, help="generations per mode")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=400)
    args = ap.parse_args()
    import torch

    from cadlib.errors import CadlibError
    from cadlib.text import from_text
    from tasks.reconstruction import training_context
    from vlm.generate import generate_batch, load_trained

    ctx = training_context(args.adapter)
    root = Path(ctx["dataset"])
    records = json.loads((root / "test.json").read_text())
    model, proc = load_trained(args.adapter)
    out = {"adapter": args.adapter, "device": str(model.device), "threads": torch.get_num_threads(), "modes": {}}
    for constrained in (False, True):
        texts, seconds, tokens = [], 0.0, 0
        i = 0
        while len(texts) < args.n:
            batch = records[i % len(records): i % len(records) + args.batch]
            i += args.batch
            imgs = [[str(root / r["image"])] for r in batch]
            prompts = [r["conversations"][0]["value"].replace("<image>\n", "") for r in batch]
            t = time.perf_counter()
            got = generate_batch(model, proc, imgs, prompts, max_new_tokens=args.max_new_tokens,
                                 constrained=constrained, samples=1)
            seconds += time.perf_counter() - t
            flat = [x[0] for x in got]
            texts += flat
            tokens += sum(len(proc.tokenizer(x, add_special_tokens=False)["input_ids"]) + 1 for x in flat)
        ok = 0
        for x in texts:
            try:
                from_text(x)
                ok += 1
            except CadlibError:
                pass
        out["modes"]["constrained" if constrained else "free"] = {
            "generations": len(texts), "sequences_per_s": round(len(texts) / seconds, 3),
            "ms_per_token": round(1000 * seconds / tokens, 3), "parse_rate": round(ok / len(texts), 3)}
    free, con = out["modes"]["free"], out["modes"]["constrained"]
    out["constraint_overhead_ms_per_token"] = round(con["ms_per_token"] - free["ms_per_token"], 3)
    out["constraint_overhead_ratio"] = round(con["ms_per_token"] / free["ms_per_token"], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
