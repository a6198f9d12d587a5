"""Dataset pipeline throughput: models/min per stage and end to end with 2 worker processes, the
Prefect flow against the same work in a plain process pool, and cached / incremental re-runs.

Input is a DeepCAD-format download made by the synthetic generator (cad_json/ + the official split
file layout), so extract parses DeepCAD JSON exactly as for the real dataset.

    python benchmarks/pipeline.py [--models 600] [--style lines] [--size 512]
    python benchmarks/pipeline.py --scale 10000     # one cold build: memory over time, Prefect's DB
    python benchmarks/pipeline.py --scale 2000 --workers 1 [--runner dask --concurrency 2]   # scale-out

Prints one JSON object. Stage numbers come from the plain run (stages one after another over one
shard holding every model), run before and after the flow; `flow_over_plain` divides the flow's wall time
by the mean of the two plain runs' (their spread is the machine's noise). CPU seconds are reported per
process role (flow, workers, Prefect server).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def make_download(root: Path, n: int) -> None:
    from cadlib.synth import generate

    split = {"train": [], "validation": [], "test": []}
    for i, (_, data) in enumerate(generate(n, seed=5)):
        ident = f"{i // 10000:04d}/{i:08d}"
        path = root / "cad_json" / f"{ident}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        split["test" if i % 20 == 0 else "validation" if i % 20 == 1 else "train"].append(ident)
    (root / "train_val_test_split.json").write_text(json.dumps(split))


def plain(layout_root: Path, spec, cfg, workers: int) -> dict:
    """The same work with no Prefect: one shard of every model, each stage over the whole pool."""
    from cadlib.dataset import (
        DatasetLayout,
        assemble,
        convert_shard,
        estimate_tokens,
        make_shards,
        render_shard,
        validate_shard,
        write_reports,
    )
    from cadlib.dataset.plan import plan_dataset
    from cadlib.workers import WorkerPool

    pool = WorkerPool(workers)
    list(pool.run(abs, range(workers * 4)))  # start the workers: the flow's shared pool is warm too
    run = lambda fn, jobs: pool.run(fn, jobs, timeout=120)  # noqa: E731
    layout = DatasetLayout(layout_root)
    times = {}
    t0 = t = time.perf_counter()
    plan = plan_dataset(layout, spec, bits=cfg.bits, max_mb=cfg.max_mb, shard_size=10**9, run=run)
    times["extract"] = time.perf_counter() - t
    recs = {r.id: r for r in plan.records}
    shard = make_shards(plan.records, 10**9)[0]
    t = time.perf_counter()
    r = render_shard(layout, shard, recs, plan.root, cfg, run)
    times["render"] = time.perf_counter() - t
    t = time.perf_counter()
    c = convert_shard(layout, shard, recs, r, cfg, estimate_tokens)
    times["convert"] = time.perf_counter() - t
    t = time.perf_counter()
    v = validate_shard(layout, shard, recs, c, cfg, run, rendered=r)
    times["validate"] = time.perf_counter() - t
    t = time.perf_counter()
    a = assemble(layout, [c], [v])
    write_reports(layout, name="plain", records=plan.records, extract_info=plan.info, converted=[c], validated=[v],
                  rendered=[r], assembled=a, config={"max_tokens": cfg.max_tokens}, versions={})
    times["assemble"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    pool.close()
    return {"models": len(shard.ids), "seconds": times, "failed": len(r["failed"]) + len(v["failed"])}


class RssSampler:
    """The resident memory of this process and its children (the worker pool, Prefect's temporary
    server), sampled each second, with each process's share kept for the peak."""

    def __init__(self) -> None:
        import threading

        self.samples: list[tuple[float, int]] = []
        self.parts: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _role(p, me) -> str:
        if p.pid == me.pid:
            return "flow"
        try:
            cmd = " ".join(p.cmdline())
        except Exception:  # noqa: BLE001 - psutil's errors and a process gone meanwhile
            return "other"
        return "prefect_server" if ("uvicorn" in cmd or ("prefect" in cmd and "server" in cmd)) else "workers"

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(1.0):
            parts: dict[str, int] = {}
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                except psutil.Error:
                    continue
                role = self._role(p, me)
                parts[role] = parts.get(role, 0) + rss
            self.samples.append((time.perf_counter() - self._t0, sum(parts.values())))
            self.parts.append(parts)

    def summary(self, warm_fraction: float = 0.2) -> dict:
        """RSS after warm-up (the first `warm_fraction` of the run) against its peak later on, and
        each process's share at both."""
        if len(self.samples) < 5:
            return {"samples": len(self.samples)}
        end = self.samples[-1][0]
        later = [i for i, (t, _) in enumerate(self.samples) if t >= warm_fraction * end]
        warm, peak = later[0], max(later, key=lambda i: self.samples[i][1])
        mb = lambda parts: {k: round(v / 2**20, 1) for k, v in sorted(parts.items())}  # noqa: E731
        return {"samples": len(self.samples), "rss_mb_after_warmup": round(self.samples[warm][1] / 2**20, 1),
                "rss_mb_peak_after_warmup": round(self.samples[peak][1] / 2**20, 1),
                "rss_mb_last": round(self.samples[-1][1] / 2**20, 1),
                "growth_after_warmup": round(self.samples[peak][1] / self.samples[warm][1] - 1, 4),
                "peak_at_s": round(self.samples[peak][0], 1), "run_s": round(end, 1),
                "by_process_after_warmup_mb": mb(self.parts[warm]), "by_process_at_peak_mb": mb(self.parts[peak]),
                "rss_mb_each_10s": [round(r / 2**20) for t, r in self.samples[::10]]}


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) each process of this tree has used so far, with its role."""
    import psutil

    me = psutil.Process()
    reaped = me.cpu_times()
    out = {-1: ("ended_children", reaped.children_user + reaped.children_system)}
    for p in [me, *me.children(recursive=True)]:
        try:
            t = p.cpu_times()
            out[p.pid] = (RssSampler._role(p, me), t.user + t.system)
        except psutil.Error:
            continue
    return out


def cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per role between two `cpu_by_process` snapshots (processes that ended between
    them, such as a closed pool's workers, under `ended_children`)."""
    spent: dict[str, float] = {}
    for pid, (role, t) in after.items():
        spent[role] = spent.get(role, 0.0) + t - before.get(pid, (role, 0.0))[1]
    return {k: round(v, 2) for k, v in sorted(spent.items())}


def dataset_bytes(root: Path, samples: dict | int) -> dict:
    """Bytes the built dataset holds, in all and per model: its images, and everything else (split
    files, texts, reports); the build's cache and the generated source are not counted."""
    models = sum(samples.values()) if isinstance(samples, dict) else samples
    images = other = 0
    for path in root.rglob("*"):
        if not path.is_file() or {"cache", "raw"} & set(path.relative_to(root).parts):
            continue
        if path.suffix == ".png":
            images += path.stat().st_size
        else:
            other += path.stat().st_size
    return {"total_mb": round((images + other) / 2**20, 1), "images_mb": round(images / 2**20, 1),
            "per_model_kb": round((images + other) / 1024 / max(1, models), 1),
            "images_per_model_kb": round(images / 1024 / max(1, models), 1)}


def scale(n: int, args) -> dict:
    """One cold flow build of `n` models under the RSS sampler; Prefect's database afterwards."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, PREFECT_HOME

    from flows.build_dataset import run_build

    tmp = Path(tempfile.mkdtemp(prefix="cadrecon-bench-scale-"))
    try:
        t = time.perf_counter()
        make_download(tmp / "deepcad", n)
        made = time.perf_counter() - t
        over = {"data_dir": str(tmp / "data"),
                "dataset": {"source": "deepcad", "path": str(tmp / "deepcad"), "workers": args.workers,
                            "task_runner": args.runner, **({"concurrency": args.concurrency} if args.concurrency else {}),
                            "shard_size": args.shard_size, "name": "scale", "train_size": n - 2 * (n // 20),
                            "val_size": n // 20, "test_size": n // 20},
                "render": {"style": args.style, "size": args.size}}
        with RssSampler() as rss:
            t = time.perf_counter()
            out = run_build("demo", overrides=over)
            wall = time.perf_counter() - t

        async def task_runs() -> int:
            async with get_client() as client:  # POST /task_runs/count (the client has no method for it)
                response = await client._client.post("/task_runs/count", json={})
                response.raise_for_status()
                return int(response.json())

        db_url = PREFECT_API_DATABASE_CONNECTION_URL.value() or ""
        db = Path(db_url.split("///", 1)[1]) if "sqlite" in db_url and "///" in db_url else Path(PREFECT_HOME.value()) / "prefect.db"
        return {"models": n, "made_download_s": round(made, 1), "flow_seconds": round(wall, 1),
                "models_per_min": round(60 * n / wall, 1), "samples": out["samples"], "failures": out["failures"],
                "shards": out["shards"], "memory": rss.summary(),
                "dataset_bytes": dataset_bytes(tmp / "data" / "datasets" / "scale", out["samples"]),
                "prefect_db_mb": round(db.stat().st_size / 2**20, 1) if db.is_file() else None,
                "prefect_db": str(db), "prefect_task_runs_total": asyncio.run(task_runs())}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, help="instead: one cold build of this many models, memory sampled each second")
    ap.add_argument("--models", type=int, default=600)
    ap.add_argument("--style", default="lines")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-size", type=int, default=256)
    ap.add_argument("--runner", choices=("threads", "dask", "ray"), default="threads",
                    help="--scale only: the flow's task runner (dask/ray: a local cluster of --concurrency processes, "
                    "each with a pool of --workers)")
    ap.add_argument("--concurrency", type=int, help="--scale only: shards in flight (default: the settings')")
    args = ap.parse_args()
    if args.scale:
        print(json.dumps({"scale": scale(args.scale, args), "style": args.style, "size": args.size,
                          "workers": args.workers, "runner": args.runner,
                          "concurrency": args.concurrency, "shard_size": args.shard_size,
                          "cpu_count": os.cpu_count()},
                         indent=1))
        return

    from prefect import flow

    from cadlib.dataset.plan import SourceSpec
    from flows.build_dataset import build_config, resolve_settings, run_build

    tmp = Path(tempfile.mkdtemp(prefix="cadrecon-bench-"))
    try:
        make_download(tmp / "deepcad", args.models)
        n_test, n_val = args.models // 20, args.models // 20
        sizes = {"train_size": args.models - n_test - n_val, "val_size": n_val, "test_size": n_test}
        over = {"data_dir": str(tmp / "data"),
                "dataset": {"source": "deepcad", "path": str(tmp / "deepcad"), "workers": args.workers,
                            "shard_size": args.shard_size, "name": "bench", **sizes},
                "render": {"style": args.style, "size": args.size}}
        settings = resolve_settings("demo", overrides=over)
        cfg = build_config(settings)
        spec = SourceSpec("deepcad", str(tmp / "deepcad"), seed=0, **sizes)

        cpu0 = cpu_by_process()
        base = plain(tmp / "plain", spec, cfg, args.workers)
        cpu_plain = cpu_spent(cpu0, cpu_by_process())

        @flow
        def warm_up() -> None:  # starts the embedded server, so no run below pays for it
            return None

        warm_up()
        cpu0 = cpu_by_process()
        t = time.perf_counter()
        cold = run_build("demo", overrides=over)
        cold_s = time.perf_counter() - t
        cpu_cold = cpu_spent(cpu0, cpu_by_process())
        stored = dataset_bytes(tmp / "data" / "datasets" / "bench", cold["samples"])
        t = time.perf_counter()
        again = run_build("demo", overrides=over)
        again_s = time.perf_counter() - t
        # change one kept model's file: only it is redone, inside its shard
        kept = [json.loads(line) for line in (tmp / "data" / "datasets" / "bench" / "manifest.jsonl").open()]
        rel = next(r["source"] for r in kept if r.get("status") == "ok")
        one = next(p for p in (tmp / "deepcad" / "cad_json" / rel, tmp / "deepcad" / rel) if p.is_file())
        data = json.loads(one.read_text())
        ext = next(e for e in data["entities"].values() if e["type"] == "ExtrudeFeature")
        ext["extent_one"]["distance"]["value"] *= 1.1
        one.write_text(json.dumps(data))
        t = time.perf_counter()
        changed = run_build("demo", overrides=over)
        changed_s = time.perf_counter() - t
        # the plain run again, after the flow: on a shared VM the two runs' spread is the noise
        # the flow/plain ratio is read against
        cpu0 = cpu_by_process()
        base_after = plain(tmp / "plain_after", spec, cfg, args.workers)
        cpu_plain_after = cpu_spent(cpu0, cpu_by_process())

        n = base["models"]
        sec = base["seconds"]
        out = {
            "models": n, "style": args.style, "size": args.size, "workers": args.workers,
            "shard_size": args.shard_size, "cpu_count": os.cpu_count(),
            "plain_models_per_min": {k: round(60 * n / v, 1) for k, v in sec.items() if v > 0},
            "plain_seconds": {k: round(v, 2) for k, v in sec.items()},
            "flow_seconds_cold": round(cold_s, 2),
            "flow_models_per_min_end_to_end": round(60 * n / cold_s, 1),
            "plain_total_seconds_before_and_after_flow": [round(sec["total"], 2),
                                                          round(base_after["seconds"]["total"], 2)],
            "flow_over_plain": round(cold_s / ((sec["total"] + base_after["seconds"]["total"]) / 2), 3),
            "cpu_seconds_plain_by_process": cpu_plain,
            "cpu_seconds_plain_after_by_process": cpu_plain_after,
            "cpu_seconds_cold_flow_by_process": cpu_cold,
            "rerun_seconds": round(again_s, 2),
            "rerun_over_cold": round(again_s / cold_s, 3),
            "rerun_cached_shards": again["cached_shards"],
            "one_model_changed_seconds": round(changed_s, 2),
            "one_model_changed_cached_shards": changed["cached_shards"],
            "one_model_changed_over_cold": round(changed_s / cold_s, 4),
            "one_model_changed_reused_models": {st: row["reused_models"] for st, row in changed["stages"].items()},
            "one_model_changed_phase_seconds": changed["phase_seconds"],
            "rerun_phase_seconds": again["phase_seconds"],
            "cold_phase_seconds": cold["phase_seconds"],
            "shards": cold["shards"],
            "failures": cold["failures"],
            "samples": cold["samples"],
            "dataset_bytes": stored,
        }
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
