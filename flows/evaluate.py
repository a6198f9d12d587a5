"""The evaluation flow: generate for every model of a dataset split with a trained adapter, score
the answers under the named protocols (deepcad, cadrille) and against a baseline.

    python -m flows.evaluate --dataset demo --model data/runs/demo-tiny_cpu-test/adapter --split test

Writes `evaluation_<split>.json` beside the adapter and publishes a markdown artifact: the summary
table per protocol (single sample, best-of-N, baseline) and the worst cases with their images.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from prefect import flow, get_run_logger

from cadlib.atomic import write_text_atomic
from config import get_settings
from flows.heartbeat import beating
from flows.prefect_home import require_prefect_home
from flows.run_names import evaluate_run_name
from flows.train import dataset_root
from tasks import artifacts
from tasks.artifacts import Suffix
from tasks.reconstruction import score_split
from tasks.reconstruction_reports import Evaluation
from vlm.report import record_evaluation


def report_markdown(report: dict, root: Path, worst: int = 5) -> str:
    cols = ["n", "parse_rate", "build_rate", "cd_cadrille", "iou_cadrille", "cd_deepcad", "iou_aligned", "acc_cmd",
            "acc_param"]
    lines = [f"## {Path(report['dataset']).name} / {report['split']}: {report['models']} models, "
             f"{report['samples_per_model']} sample(s) each, constrained {report['constrained']}", "",
             "| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for key in ("single", "best_of_n", "baseline"):
        if key in report:
            lines.append(f"| {key} | " + " | ".join(str(report[key].get(c)) for c in cols) + " |")
    lines += ["", "Protocols: " + "; ".join(f"**{k}**: {v['description']}" for k, v in report["protocols"].items()),
              "", f"### Worst {worst} (cadrille CD; invalid first)", ""]
    rows = sorted(report["per_model"], key=lambda r: (r["single"]["valid"], -(r["single"]["cd"]["cadrille"] or 0)))
    for r in rows[:worst]:
        img = root / r["image"]
        url = artifacts.png_url(img.read_bytes() if img.is_file() else b"")
        s = r["single"]
        lines.append(f"- `{r['id']}`: valid {s['valid']}, CD {s['cd']['cadrille']}, {s['error'] or 'ok'} "
                     f"![{r['id']}]({url})")
    return "\n".join(lines)


@flow(name="evaluate", flow_run_name=evaluate_run_name, log_prints=True)
async def evaluate(dataset: str = "demo", model: str = "", split: str = "test", samples: int = 1,
                   limit: int | None = None, constrained: bool = True, batch_size: int = 8) -> Evaluation:
    """Scores an adapter on a dataset split under the deepcad and cadrille protocols."""
    with beating(get_settings().data_dir):
        return await asyncio.to_thread(_evaluate, dataset, model, split, samples, limit, constrained, batch_size)


def _evaluate(dataset: str, model: str, split: str, samples: int, limit: int | None, constrained: bool,
              batch_size: int) -> Evaluation:
    root = dataset_root(dataset)
    if not model:
        raise ValueError("evaluate needs --model: an adapter folder made by cadrecon train")
    key = artifacts.slug(f"evaluate-{root.name}-{split}")
    report = score_split(str(root), model, split, samples, limit, constrained, batch_size, key)
    out = Path(model).parent / f"evaluation_{split}.json"
    write_text_atomic(out, json.dumps(report, indent=1, default=str))
    report["report_path"] = str(out)
    if (Path(model).parent / "training_report.json").is_file():  # the run's report says what the model does
        record_evaluation(model, {"split": split, "models": report["models"], "single": report["single"],
                                               "baseline": report["baseline"], "report": str(out)})
    artifacts.markdown(artifacts.key(key, Suffix.REPORT), report_markdown(report, root), "evaluation")
    get_run_logger().info("%s", json.dumps({k: report[k] for k in ("single", "baseline")}, indent=1))
    return report


def run_evaluate(dataset: str, model: str, **kw) -> Evaluation:
    """Runs the flow after checking its arguments (one error line, no Failed run)."""
    from vlm.generate import require_trained_folder

    require_trained_folder(model)
    dataset_root(dataset)
    require_prefect_home()
    return asyncio.run(evaluate(dataset, model, **kw))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="demo")
    p.add_argument("--model", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--samples", type=int, default=1)
    p.add_argument("--limit", type=int)
    p.add_argument("--no-constrain", action="store_true")
    a = p.parse_args(argv)
    run_evaluate(a.dataset, a.model, split=a.split, samples=a.samples, limit=a.limit, constrained=not a.no_constrain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
