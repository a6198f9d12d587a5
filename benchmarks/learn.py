"""Does a model trained by cadrecon reconstruct parts? Trains a recipe for a fixed number of minutes
on the CPU and scores it on held-out test models against two baselines, under the cadrille
protocol.

    python benchmarks/learn.py [--minutes 10] [--curve 2,5,10,20] [--recipe tiny_cpu]
                               [--dataset synth_learn] [--limit N] [--override '{"learning_rate": 1e-3}']

1. The dataset: built with the `synth_learn` preset (about 4,200 synthetic models of every family)
   unless it is already there.
2. Training: `cadrecon train`'s flow with the recipe and `max_minutes` = N (the learning rate
   follows the clock; the run stops when the time is spent). One fresh run per point of the curve.
3. Scoring, on the test split (models never seen in training), greedy constrained decoding:
   - mean_iou: cadrille's IoU (each solid scaled to the unit cube on its own, exact OCP booleans),
     mean over the predictions that build (cadrille reports IoU so);
   - median_cd: cadrille's Chamfer distance (8,192 points, unit cube, x1000), median over the
     predictions that build;
   - invalid_ratio: the share of answers that do not build a valid solid.
   Baselines (cadlib.baselines): constant (the most common training target) and retrieval (the
   target of the nearest training image in pixel space).
   - image_use (vlm.image_use): the answer loss with each test model's own images against each
     other's; `reads_images` false means the model writes its answers whatever it is shown.

Prints one JSON object: {"model", "baselines": {"constant", "retrieval"}, "train", "curve"}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def log(msg: str) -> None:
    print(f"[learn {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def ensure_dataset(name: str, train_size: int | None = None) -> Path:
    """The dataset folder, built from the preset of that name when missing; with `train_size`, the
    preset with that many train models, as `<name>_<train_size>`: the same val and test sizes, but
    not the same parts (the synthetic split ranks all models by a seeded hash), so compare its
    model with its own baselines."""
    from config import get_settings

    preset = name
    if train_size:
        name = f"{name}_{train_size}"
    root = Path(get_settings().data_dir) / "datasets" / name
    if not (root / "validation.json").is_file() or not (root / "test.json").is_file():
        from flows.build_dataset import run_build

        log(f"building dataset {name} (preset {preset})")
        overrides = {"dataset": {"train_size": train_size}} if train_size else None
        run_build(preset, name=name if train_size else None, overrides=overrides)
    return root.resolve()


def test_records(root: Path, limit: int | None) -> list[dict]:
    records = json.loads((root / "test.json").read_text())
    first: dict[str, dict] = {}
    for r in records:
        first.setdefault(r["id"].rsplit("_", 1)[0], r)
    ids = sorted(first)[:limit] if limit else sorted(first)
    return [first[i] | {"model_id": i} for i in ids]


def generate_answers(weights: str, root: Path, records: list[dict], bits: int,
                     batch: int = 16) -> tuple[list[str], float, dict]:
    """The model's answers for `records`, the seconds they took, and whether it reads its images
    (`vlm.image_use`), from one load of the weights."""
    from cadlib.grammar import Limits
    from vlm.collate import sample_from_llava
    from vlm.generate import generate_batch, load_trained
    from vlm.image_use import image_use

    model, processor = load_trained(weights)
    train = json.loads((root / "train.json").read_text())
    longest = max(len(processor.tokenizer.encode(r["conversations"][1]["value"])) for r in train)
    out: list[str] = []
    t0 = time.perf_counter()
    for i in range(0, len(records), batch):
        chunk = records[i:i + batch]
        prompts = [r["conversations"][0]["value"].replace("<image>\n", "") for r in chunk]
        got = generate_batch(model, processor, [[str(root / r["image"])] for r in chunk], prompts,
                             max_new_tokens=int(longest * 1.25) + 8, constrained=True, limits=Limits(bits=bits))
        out += [g[0] for g in got]
    seconds = time.perf_counter() - t0
    return out, seconds, dict(image_use(model, processor, [sample_from_llava(r, root) for r in records]))


def in_own_thread(fn, *args):
    """`fn(*args)` in a thread that ends with it. Torch work in the main thread, which lives on, keeps
    its OpenMP team, and every later run of the process trained at 17 samples/s instead of 29
    (measured: a plain torch loop in a fresh thread, 70 -> 40 steps/s after main-thread inference; the
    same inference in a thread that ended: no change). The likely mechanism: with two teams on 2 cores
    libgomp counts more threads than CPUs and throttles its spin-wait (OMP_WAIT_POLICY=PASSIVE gives
    the slow rate from the start)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="learn-generate") as one:
        return one.submit(fn, *args).result()


def train_for(minutes: float, recipe: str, dataset: str, overrides: dict, fresh: bool) -> dict:
    from config import get_settings
    from flows.train import run_train

    out = Path(get_settings().data_dir) / "runs" / f"learn-{recipe}-{minutes:g}min"
    if fresh and out.exists():
        shutil.rmtree(out)
    log(f"training {recipe} for {minutes:g} min -> {out}")
    return run_train(dataset, recipe, out=str(out), overrides={**overrides, "max_minutes": minutes})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="the training budget the main numbers are for")
    p.add_argument("--curve", default="", help="more budgets (comma-separated minutes), one fresh run each")
    p.add_argument("--recipe", default="tiny_cpu")
    p.add_argument("--dataset", default="synth_learn", help="a dataset name; synth_learn is built when missing")
    p.add_argument("--limit", type=int, help="score only the first N test models")
    p.add_argument("--override", default="{}", help="recipe values as JSON, on top of the recipe")
    p.add_argument("--reuse", action="store_true", help="keep (resume) earlier runs of the same budget")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default=None,
                   help="where to train and generate (default: the recipe's)")
    p.add_argument("--train-size", type=int, help="train models of the synthetic dataset (a larger synth_learn)")
    a = p.parse_args(argv)

    t_start = time.perf_counter()
    root = ensure_dataset(a.dataset, a.train_size)
    overrides = json.loads(a.override) | ({"device": a.device} if a.device else {})
    from cadlib.dataset.layout import DatasetLayout

    info = DatasetLayout(root).read_info()
    bits = info["config"]["sequence"]["bits"]
    records = test_records(root, a.limit)
    truths = [(root / "sources" / f"{r['model_id']}.txt").read_text() for r in records]
    train = json.loads((root / "train.json").read_text())

    from cadlib.baselines import RetrievalIndex, constant_target
    from vlm.selection import summarize

    index = RetrievalIndex([root / r["image"] for r in train], [r["conversations"][1]["value"] for r in train])
    constant = constant_target([r["conversations"][1]["value"] for r in train])
    retrieved = [index.nearest(root / r["image"]) for r in records]

    from cadlib.workers import WorkerPool
    from vlm.selection import score_many

    pool = WorkerPool(2)
    try:
        log(f"scoring the baselines on {len(records)} test models")
        baselines = {"constant": summarize(score_many(pool, [constant] * len(records), truths, bits)),
                     "retrieval": summarize(score_many(pool, retrieved, truths, bits))}
        budgets = sorted({a.minutes, *(float(x) for x in a.curve.split(",") if x.strip())})
        curve, main_row = [], None
        for minutes in budgets:
            report = train_for(minutes, a.recipe, str(root), overrides, fresh=not a.reuse)
            log(f"generating for {len(records)} test models with {report['weights']}")
            texts, gen_s, use = in_own_thread(generate_answers, report["weights"], root, records, bits)
            scores = score_many(pool, texts, truths, bits)
            model = {**summarize(scores), "image_use": use}
            from vlm.report import record_evaluation

            record_evaluation(report["weights"], {"split": "test", "protocol": "cadrille", **model,
                                       "baselines": baselines})
            row = {"minutes": minutes, **model}
            curve.append(row)
            log(f"{minutes:g} min: {json.dumps(model)}")
            if minutes == a.minutes:
                errors: dict[str, int] = {}
                for s in scores:
                    if not s["valid"]:
                        key = s["error"].split(":")[0]
                        errors[key] = errors.get(key, 0) + 1
                main_row = {"model": {**model, "invalid_causes": errors, "generate_seconds": round(gen_s, 1),
                                      "weights": report["weights"], "examples": [
                                          {"id": r["model_id"], "iou": s["iou"], "text": t}
                                          for r, s, t in list(zip(records, scores, texts, strict=True))[:3]]},
                            "train": {"minutes": minutes, "samples_per_second": report["samples_per_second"],
                                      "train_seconds": report["train_seconds"],
                                      "epochs": report.get("epochs_done"), "train_samples": report["train_samples"],
                                      "parameters": report.get("parameters"),
                                      "trainable_parameters": report["trainable_parameters"],
                                      "train_mode": report.get("train_mode"), "precision": report["precision"],
                                      "verdict": report["verdict"], "history": report["history"],
                                      "selection": report.get("selection")}}
    finally:
        pool.close()
    result = {**main_row, "baselines": baselines, "curve": curve,
              "dataset": {"name": root.name, "train": len(train), "test_models": len(records), "bits": bits},
              "recipe": a.recipe, "override": overrides,
              "ratios": {"iou_over_constant": _ratio(main_row["model"]["mean_iou"], baselines["constant"]["mean_iou"]),
                         "iou_over_retrieval": _ratio(main_row["model"]["mean_iou"],
                                                      baselines["retrieval"]["mean_iou"])},
              "wall_seconds": round(time.perf_counter() - t_start, 1)}
    print(json.dumps(result, indent=1))
    return 0


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


if __name__ == "__main__":
    sys.exit(main())
