"""The reconstruction and evaluation steps with a trained model: views -> generated construction
sequence (`vlm.generate`) -> rebuilt solid -> scores (`cadlib.evaluation`, under the protocols of
`cadlib.scoring`), for one file or a dataset split. The flows (`flows.reconstruct`,
`flows.evaluate`) run these as Prefect tasks.

The views are rendered with the settings of the dataset the adapter was trained on (read from its
training_report.json and the dataset's cadrecon.json), and the prompts are the dataset's.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from cadlib.dataset.layout import DatasetLayout
from cadlib.dataset.prompts import prompt_for
from cadlib.dataset.reports import LlavaRecord
from cadlib.scoring import PROTOCOLS
from cadlib.scoring.protocols import best_of
from cadlib.scoring.protocols import summarize as summarize_protocol
from cadlib.scoring.reports import TextScore
from cadlib.vocabulary import Layout
from tasks import artifacts
from tasks.artifacts import Suffix
from tasks.reconstruction_reports import (
    DrawCounts,
    Evaluation,
    EvaluationSummary,
    ModelRow,
    Reconstruction,
    ResultRow,
    ScoredText,
    TrainingContext,
)


def training_context(adapter_dir: str | Path) -> TrainingContext:
    """The render and prompt settings an adapter was trained with."""
    adapter_dir = Path(adapter_dir)
    report_path = adapter_dir.parent / "training_report.json"
    if not report_path.is_file():
        raise ValueError(f"{adapter_dir}: no training_report.json beside it; pass an adapter folder made by cadrecon train")
    report = json.loads(report_path.read_text())
    layout = DatasetLayout(Path(report["dataset"]))
    try:
        cfg = layout.read_info()["config"]
    except (OSError, ValueError):
        raise ValueError(f"{layout.info}: the adapter's dataset is gone; its render settings are needed") from None
    return {"dataset": report["dataset"], "views": tuple(cfg["render"]["views"]), "size": cfg["render"]["size"],
            "style": cfg["render"]["style"], "tile": cfg.get("layout") == Layout.TILE, "seed": cfg.get("seed", 0),
            "bits": cfg["sequence"]["bits"], "target": cfg.get("target", "sequence")}


def _prompt(ctx: TrainingContext, model_id: str, view: str | None) -> str:
    text = prompt_for(f"{model_id}_{view or 'tile'}", view=view, views=ctx["views"], seed=ctx["seed"], cadquery=False)
    return text.replace("<image>\n", "")


REDRAWS = 3
"""Constrained decoding guarantees text that parses; a sample that still does not build a valid
solid (a self-intersecting profile, a cut that removes everything) is drawn again, sampled with
another seed (two draws for each answer missing), up to this many rounds. Reports give the first
draws' build rate too."""


def generate_building(net, processor, images: list[list[str]], prompts, *, samples: int, max_new_tokens: int,
                      constrained: bool, bits: int, redraws: int = REDRAWS, seed: int = 0,
                      on_token=None) -> tuple[list[list[str]], DrawCounts]:
    """`vlm.generate.generate_batch`, then (constrained only) each answer that does not build is
    drawn again, up to `redraws` rounds, all items of a round in one batch. Returns the answers and
    the counts of the first draws: ``{"n", "parsed", "built", "redrawn"}``."""
    from cadlib.errors import CadlibError
    from cadlib.evaluation import build_text
    from cadlib.grammar import Limits
    from vlm.generate import generate_batch

    limits = Limits(bits=bits)
    prompts = [prompts] * len(images) if isinstance(prompts, str) else list(prompts)
    outs = generate_batch(net, processor, images, prompts, max_new_tokens=max_new_tokens, constrained=constrained,
                          samples=samples, limits=limits, seed=seed, on_token=on_token)

    def status(text: str) -> str:
        try:
            build_text(text, bits)
            return "built"
        except CadlibError as exc:
            return "unparsed" if type(exc).__name__ in ("TextSyntaxError", "ParseError") else "parsed"

    first = [[status(t) for t in row] for row in outs]
    counts: DrawCounts = {"n": sum(len(r) for r in first), "parsed": sum(s != "unparsed" for r in first for s in r),
              "built": sum(s == "built" for r in first for s in r), "redrawn": 0}
    if not constrained:
        return outs, counts
    bad = [(i, k) for i, row in enumerate(first) for k, st in enumerate(row) if st != "built"]
    for round_ in range(1, redraws + 1):
        if not bad:
            break
        missing: dict[int, int] = {}
        for i, _ in bad:
            missing[i] = missing.get(i, 0) + 1
        draws = max(2, 2 * max(missing.values()))
        items = sorted(missing)
        again = generate_batch(net, processor, [images[i] for i in items], [prompts[i] for i in items],
                               max_new_tokens=max_new_tokens, constrained=True, samples=draws, limits=limits,
                               seed=seed + 1000 * round_, on_token=on_token)
        fresh = {i: [t for t in row if status(t) == "built"] for i, row in zip(items, again, strict=True)}
        still = []
        for i, k in bad:
            if fresh[i]:
                outs[i][k] = fresh[i].pop()
                counts["redrawn"] += 1
            else:
                still.append((i, k))
        bad = still
    return outs, counts


def _best(scored: list[TextScore], protocol: str = "cadrille") -> int | None:
    """The index of the sample cadrille keeps (the smallest CD under `protocol`), or None when none builds."""
    valid = [i for i, s in enumerate(scored) if s["valid"]]
    return min(valid, key=lambda i: scored[i]["cd"][protocol]) if valid else None


def reconstruct_file(path: str | Path, adapter_dir: str | Path, *, out_step: str | Path | None = None,
                     samples: int = 1, constrained: bool = True, max_new_tokens: int = 512) -> Reconstruction:
    """Reconstructs one CAD file of any supported format; writes the STEP (in the file's frame) and
    a side-by-side image (input views above, reconstruction below) when `out_step` is given.
    Its stages (views, generate: decoding steps, score: samples) report to `tasks.progress`."""
    from cadlib import occ
    from cadlib.evaluation import score_text, truth_from_model
    from cadlib.ingest import load_model
    from cadlib.ingest.brep import model_from_sequence
    from cadlib.render import render_views
    from cadlib.text import from_text
    from tasks import progress
    from vlm.generate import load_trained

    ctx = training_context(adapter_dir)
    path = Path(path)
    progress.start("views", 1)
    model = load_model(path)
    style = ctx["style"] if model.shape is not None else "shaded"
    views = render_views(model, ctx["views"], size=ctx["size"], style=style, svg=False)
    out_dir = Path(out_step).with_suffix("") if out_step else Path(path.stem + "_reconstruction")
    out_dir.mkdir(parents=True, exist_ok=True)
    from cadlib.render import tile

    images = {"tile": tile(views.images)} if ctx["tile"] else views.images
    files = {}
    for name, img in images.items():
        files[name] = out_dir / f"input_{name}.png"
        img.save(files[name])
    progress.advance("views")
    net, processor = load_trained(adapter_dir)
    progress.start("generate", max_new_tokens)

    def on_token(step: int, total: int) -> None:
        progress.at_least("generate", step)

    per_view = [(name, [str(f)]) for name, f in files.items()]
    # every view in one batch; the best valid sample is kept, so only a file none of whose samples
    # builds is drawn again (one round)
    prompts = [_prompt(ctx, path.stem, None if ctx["tile"] else name) for name, _ in per_view]
    constrain = constrained and ctx["target"] == "sequence"
    got, draws = generate_building(net, processor, [imgs for _, imgs in per_view], prompts, samples=samples,
                                   max_new_tokens=max_new_tokens, constrained=constrain, bits=ctx["bits"], redraws=0,
                                   on_token=on_token)
    if constrain and not draws["built"]:
        progress.start("redraw", max_new_tokens)
        got, _ = generate_building(net, processor, [imgs for _, imgs in per_view], prompts, samples=samples,
                                   max_new_tokens=max_new_tokens, constrained=True, bits=ctx["bits"], redraws=0,
                                   seed=1000, on_token=lambda step, total: progress.at_least("redraw", step))
        draws["redrawn"] = draws["n"]
    texts = [(name, t) for (name, _), row in zip(per_view, got, strict=True) for t in row]
    truth, frame = truth_from_model(model)
    scored: list[TextScore] = []
    progress.start("score", len(texts))
    for k, (_view, text) in enumerate(texts):
        scored.append(score_text(text, truth, bits=ctx["bits"], frame=frame, seed=k))
        progress.advance("score")
    best = _best(scored)
    baseline = None
    if ctx["target"] == "sequence":  # what a constant guess scores on the same file, for scale
        from cadlib.baselines import constant_target

        train = json.loads((Path(ctx["dataset"]) / "train.json").read_text())
        baseline = _public(score_text(constant_target([r["conversations"][1]["value"] for r in train]), truth,
                                      bits=ctx["bits"], frame=frame))
    result: Reconstruction = {
        "file": str(path), "adapter": str(adapter_dir), "constrained": constrained, "samples": len(scored),
        "parsed": sum(1 for s in scored if s["parsed"]), "valid": sum(1 for s in scored if s["valid"]),
        "first_draws": draws, "single": _public(scored[0], *texts[0]),
        "best_of_n": _public(scored[best], *texts[best]) if best is not None else None, "baseline": baseline,
        "protocols": {k: PROTOCOLS[k].as_dict() for k in PROTOCOLS}}
    if best is not None and out_step is not None:
        # in the input's frame already; in its units too (an inch STEP comes back in inches)
        occ.write_step(scored[best]["geometry"].shape, out_step, unit=occ.write_unit(model.info.scale_to_mm))
        rec = render_views(model_from_sequence(from_text(texts[best][1], ctx["bits"]), file="reconstruction"),
                           ctx["views"], size=ctx["size"], style=ctx["style"], svg=False)
        side = _side_by_side(views.images, rec.images, "input", _answer_label(scored[best], len(scored)))
        side.save(out_dir / "side_by_side.png")
        result["step"], result["side_by_side"] = str(out_step), str(out_dir / "side_by_side.png")
    return result


def _public(s: TextScore, view: str | None = None, text: str | None = None) -> ScoredText:
    """A score as JSON: without the built geometry, with the view and text it scores (where given)."""
    out: ScoredText = {"parsed": s["parsed"], "valid": s["valid"], "error": s["error"], "cd": s["cd"], "iou": s["iou"],
                       "iou_method": s["iou_method"], "acc_cmd": s["acc_cmd"], "acc_param": s["acc_param"]}
    if view is not None:
        out = {"view": view, "text": text or "", **out}  # the order the JSON always had
    elif text is not None:
        out["text"] = text
    return out


def _side_by_side(top: dict, bottom: dict, top_label: str = "input", bottom_label: str = "reconstruction"):
    """The input's views above the answer's, each row under a label band saying which is which."""
    from PIL import Image, ImageDraw

    names = list(top)
    size = next(iter(top.values())).width
    band = max(14, size // 12)
    out = Image.new("RGB", (size * len(names), 2 * (size + band)), "white")
    draw = ImageDraw.Draw(out)
    for row, (images, label) in enumerate(((top, top_label), (bottom, bottom_label))):
        y = row * (size + band)
        draw.rectangle([0, y, out.width, y + band - 1], fill=(235, 235, 235))
        draw.text((4, y + max(0, (band - 11) // 2)), label, fill="black")
        for i, n in enumerate(names):
            if n in images:
                out.paste(images[n].convert("RGB"), (i * size, y + band))
    return out


def _answer_label(s: TextScore, n: int) -> str:
    value = s["iou"].get("cadrille")
    return f"reconstruction (best of {n})" + (f", IoU {value:.3f} (cadrille)" if isinstance(value, float) else "")


def evaluate_split(dataset_root: str | Path, adapter_dir: str | Path, *, split: str = "test", samples: int = 1,
                   limit: int | None = None, constrained: bool = True, batch_size: int = 8,
                   max_new_tokens: int = 512, progress=None) -> Evaluation:
    """Generates for every model of a split (its first view, or its tile) and scores the answers
    under every protocol; the constant baseline (`cadlib.baselines.constant_target`) is scored too."""
    from cadlib.evaluation import score_text, truth_from_text
    from vlm.generate import load_trained

    root = Path(dataset_root)
    ctx = training_context(adapter_dir)
    records = DatasetLayout(root).read_split(split)
    first: dict[str, LlavaRecord] = {}
    for r in records:  # one sample per model: the first view in the dataset's order
        first.setdefault(r["id"].rsplit("_", 1)[0], r)
    models = sorted(first)[:limit] if limit else sorted(first)
    from cadlib.baselines import constant_target

    baseline_text = constant_target([r["conversations"][1]["value"]
                                     for r in json.loads((root / "train.json").read_text())])
    net, processor = load_trained(adapter_dir)
    rows: list[ModelRow] = []
    draws: DrawCounts = {"n": 0, "parsed": 0, "built": 0, "redrawn": 0}
    for start in range(0, len(models), batch_size):
        chunk = models[start: start + batch_size]
        prompts = [first[m]["conversations"][0]["value"].replace("<image>\n", "") for m in chunk]
        outs, counts = generate_building(net, processor, [[str(root / first[m]["image"])] for m in chunk], prompts,
                                         max_new_tokens=max_new_tokens, samples=samples, bits=ctx["bits"],
                                         constrained=constrained and ctx["target"] == "sequence")
        draws = {"n": draws["n"] + counts["n"], "parsed": draws["parsed"] + counts["parsed"],
                 "built": draws["built"] + counts["built"], "redrawn": draws["redrawn"] + counts["redrawn"]}
        for mid, texts in zip(chunk, outs, strict=True):
            truth = truth_from_text((root / "sources" / f"{mid}.txt").read_text(), ctx["bits"])
            scored = [_public(score_text(t, truth, bits=ctx["bits"], seed=k), text=t) for k, t in enumerate(texts)]
            base = _public(score_text(baseline_text, truth, bits=ctx["bits"]))
            rows.append({"id": mid, "image": first[mid]["image"], "single": scored[0],
                         "best_of_n": best_of_samples(scored) if samples > 1 else None, "baseline": base})
            if progress:
                progress(len(rows), len(models))
    report: Evaluation = {"dataset": str(root), "split": split, "adapter": str(adapter_dir), "models": len(rows),
              "samples_per_model": samples, "constrained": constrained, "first_draws": draws,
              "protocols": {k: PROTOCOLS[k].as_dict() for k in PROTOCOLS},
              "single": summarize(rows, "single"), "baseline": summarize(rows, "baseline"),
              "baseline_text": baseline_text, "per_model": rows}
    if samples > 1:
        report["best_of_n"] = summarize(rows, "best_of_n")
    return report


def best_of_samples(scored: list[ScoredText]) -> ScoredText:
    """A model's best-of-N as cadrille takes it, per protocol: the smallest CD and, separately,
    the largest IoU among the samples that build; parsed/valid when any sample is."""
    out: ScoredText = {"parsed": any(s["parsed"] for s in scored), "valid": any(s["valid"] for s in scored), "error": "",
           "cd": {}, "iou": {}, "acc_cmd": max((s["acc_cmd"] for s in scored if s["acc_cmd"] is not None), default=None),
           "acc_param": max((s["acc_param"] for s in scored if s["acc_param"] is not None), default=None)}
    if not out["valid"]:
        out["error"] = scored[0]["error"]
    for name in PROTOCOLS:
        b = best_of([{"valid": s["valid"], "cd": s["cd"][name], "iou": s["iou"][name]} for s in scored])
        out["cd"][name], out["iou"][name] = b["cd"], b["iou"]
    return out


def summarize(rows: list[ModelRow], key: str) -> EvaluationSummary:
    """Over models: the parse rate and the build rate (answers that parse / build a valid solid),
    the invalid ratio, per protocol the median CD (x1e3) and the mean and median IoU
    (`cadlib.scoring.protocols.summarize`), and the mean ACC_cmd / ACC_param."""
    got: list[ScoredText] = [r[key] for r in rows if r.get(key) is not None]
    n = len(got)
    out: EvaluationSummary = {"n": n, "parse_rate": round(sum(g["parsed"] for g in got) / n, 4) if n else None,
           "build_rate": round(sum(g["valid"] for g in got) / n, 4) if n else None}
    for name in PROTOCOLS:
        s = summarize_protocol([{"valid": g["valid"], "cd": g["cd"][name], "iou": g["iou"][name]} for g in got])
        out["invalid_ratio"] = s["invalid_ratio"]
        out[f"cd_{name}"], out[f"iou_{name}"], out[f"iou_median_{name}"] = s["median_cd"], s["mean_iou"], s["median_iou"]
    accs = [g for g in got if g["acc_cmd"] is not None]
    out["acc_cmd"] = round(sum(g["acc_cmd"] for g in accs) / len(accs), 4) if accs else None
    out["acc_param"] = round(sum(g["acc_param"] for g in accs) / len(accs), 4) if accs else None
    return out


def result_row(result: Reconstruction) -> ResultRow:
    """The numbers of a reconstruction, flat (the table artifact the REST API reads): per sample
    kind, the text, the cadrille and deepcad CD, cadrille's IoU and the error."""
    row: ResultRow = {"file": result["file"], "samples": result["samples"], "parsed": result["parsed"], "valid": result["valid"],
           "step": result.get("step"), "side_by_side": result.get("side_by_side")}
    for key in ("single", "best_of_n"):
        s = result.get(key) or {}
        row[f"{key}_text"] = s.get("text")
        for name in ("cadrille", "deepcad"):
            row[f"{key}_cd_{name}"] = (s.get("cd") or {}).get(name)
        row[f"{key}_iou"] = (s.get("iou") or {}).get("cadrille")
        row[f"{key}_error"] = s.get("error")
    return row


@task(name="reconstruct-file")
def reconstruct_one(file: str, model: str, out_step: str, samples: int, constrained: bool) -> Reconstruction:
    return reconstruct_file(file, model, out_step=out_step, samples=samples, constrained=constrained)


@task(name="generate-and-score")
def score_split(root: str, adapter: str, split: str, samples: int, limit: int | None, constrained: bool,
                batch_size: int, key: str) -> Evaluation:
    bar = create_progress_artifact(0.0, key=artifacts.key(key, Suffix.PROGRESS), description="models scored", _sync=True)

    from tasks import progress

    def show(done: int, total: int) -> None:
        update_progress_artifact(bar, 100.0 * done / total, _sync=True)
        progress.reached("models", done, total)

    report = evaluate_split(root, adapter, split=split, samples=samples, limit=limit, constrained=constrained,
                            batch_size=batch_size, progress=show)
    get_run_logger().info("scored %d models", report["models"])
    return report
