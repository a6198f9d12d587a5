"""The dataset's own description: dataset_info.json, validation.json, the README card and a
contact sheet of sample views. Nothing here carries a timestamp (re-builds are byte-identical)."""

from __future__ import annotations

import json
from collections import Counter

from PIL import Image

from cadlib.dataset.layout import (
    SPLITS,
    DatasetLayout,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from cadlib.dataset.manifest import ModelRecord, ModelStatus
from cadlib.dataset.validate import agreement_stats, check_splits, distribution, failure_table


def collect_failures(records: list[ModelRecord], reports: list[dict]) -> list[dict]:
    """Every per-model failure of every stage, extract first."""
    out = [{"id": r.id, "stage": "extract", "error_class": r.error_class, "error": r.error}
           for r in records if r.status == ModelStatus.FAILED.value]
    for rep in reports:
        out += rep.get("failed", [])
    return out


def write_reports(
    layout: DatasetLayout,
    *,
    name: str,
    records: list[ModelRecord],
    extract_info: dict,
    converted: list[dict],
    validated: list[dict],
    rendered: list[dict],
    assembled: dict,
    config: dict,
    versions: dict,
) -> dict:
    """Writes validation.json, dataset_info.json and README.md; returns the validation summary."""
    signatures = {r.id: r.signature for r in records if r.ok}
    structural, stats = check_splits(layout, signatures)
    structural = [[f["error_class"], f"{f['id']}: {f['error']}"] for v in validated for f in v["structural"]] + structural
    failures = collect_failures(records, rendered + converted + validated)
    dropped = [d for c in converted for d in c["dropped"]]
    tokens = [s["tokens"] for c in converted for s in c["samples"]]
    status = Counter(r.status for r in records)
    stats["target_tokens"] = distribution(tokens)
    good = {m for v in validated for m in v["ok"]}
    stats["target_rebuild"] = agreement_stats([a for v in validated for m, a in v.get("agreement", {}).items()
                                               if m in good])
    topology = sum(1 for r in records if r.error_class == "QuantisationChangesTopology")
    validation = {
        "ok": not structural,
        "structural_errors": structural[:200],
        "structural_error_count": len(structural),
        "models": {"listed": len(records), "kept": status[ModelStatus.OK.value],
                   "duplicates": status[ModelStatus.DUPLICATE.value], "failed": len(failures),
                   "in_dataset": len({m for v in validated for m in v["ok"]})},
        "samples": assembled["samples"],
        "unlabeled_models": assembled["unlabeled"],
        "dropped_too_long": {s: sum(1 for d in dropped if d["split"] == s) for s in SPLITS},
        "dropped_topology": topology,
        "leakage": extract_info.get("leakage", {}) | {"groups_across_splits_in_files": stats.pop("duplicate_groups_across_splits")},
        "failures": failure_table(failures),
        "stats": stats,
    }
    write_json_atomic(layout.validation, validation)
    info = {
        "name": name,
        "models": validation["models"],
        "samples": assembled["samples"],
        "unlabeled_models": assembled["unlabeled"],
        "source": extract_info.get("source", {}),
        "config": config,
        "versions": versions,
        "files": {s: [f"{s}.json", f"{s}.jsonl", f"{s}.parquet"] for s in SPLITS},
    }
    write_json_atomic(layout.info, info)
    write_text_atomic(layout.card, card(info, validation))
    return validation


def _images_line(config: dict) -> str:
    render = config.get("render", {})
    size, views = render.get("size"), render.get("views", [])
    if config.get("layout") == "tile":
        return (f"Images: one {2 * size}x{2 * size} px tile per model, 2x2 (top | iso over front | right), "
                f"{size} px per view, style {render.get('style')}; views {views}.")
    return f"Images: one {size}x{size} px view per sample ({', '.join(views)}), style {render.get('style')}."


def card(info: dict, validation: dict) -> str:
    """The dataset's README: what is in it, how it was made, what failed, how to load it."""
    m, s = validation["models"], validation["samples"]
    lines = [
        f"# {info['name']}",
        "",
        "Orthographic views of CAD models paired with the construction sequence that rebuilds each",
        "solid, built by [cadrecon](https://github.com/) (`cadrecon dataset build`).",
        "",
        "## Contents",
        "",
        "| split | samples | models |",
        "|---|---:|---:|",
    ]
    for split in SPLITS:
        st = validation["stats"]["splits"].get(split, {})
        lines.append(f"| {split} | {s.get(split, 0)} | {st.get('models', 0)} |")
    lines += [
        "",
        f"Models listed {m['listed']}, kept {m['kept']}, duplicates removed {m['duplicates']}, failed {m['failed']}, "
        f"in the dataset {m['in_dataset']}; unlabeled (views only) {validation['unlabeled_models']}.",
        f"Samples dropped as too long (> {info['config'].get('max_tokens')} tokens, never truncated): "
        f"{sum(validation['dropped_too_long'].values())}.",
        f"Models dropped because their quantised solid is another part (QuantisationChangesTopology): "
        f"{validation['dropped_topology']}.",
        _images_line(info["config"]),
        f"Target rebuild: {json.dumps(validation['stats']['target_rebuild'])}.",
        f"Leakage: {json.dumps(validation['leakage'])}.",
        f"Target tokens: {json.dumps(validation['stats']['target_tokens'])}.",
        "",
        "## Failures",
        "",
    ]
    if validation["failures"]:
        lines += ["| stage | error | count | examples |", "|---|---|---:|---|"]
        for row in validation["failures"]:
            ex = "; ".join(e.replace("|", "\\|") for e in row["examples"])
            lines.append(f"| {row['stage']} | {row['error_class']} | {row['count']} | {ex} |")
    else:
        lines.append("None.")
    lines += [
        "",
        "## Files",
        "",
        "- `train.json`, `val.json`, `test.json`: LLaVA / TinyLLaVA conversations (`id`, `image`, `conversations`).",
        "- `*.jsonl`: `messages` + `images` per line (LLaMA-Factory, TRL, ms-swift).",
        "- `*.parquet`: both shapes plus `target` and `tokens`: `datasets.load_dataset(\"parquet\", data_files={\"train\": \"train.parquet\"})`.",
        "- `images/`: the views; `sources/`: the sequence text per model; `manifest.jsonl`: every source model",
        "  with its hashes, split and status; `validation.json`: checks and statistics.",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(info["config"], indent=1, sort_keys=True),
        "```",
        "",
        "## Versions",
        "",
        "```json",
        json.dumps(info["versions"], indent=1, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def contact_sheet(layout: DatasetLayout, converted: list[dict], *, n: int = 16, cell: int = 128) -> bytes | None:
    """A grid of the first view of up to `n` models (by id), written as contact_sheet.png; returns
    the PNG bytes (None when there is nothing to show)."""
    firsts: dict[str, str] = {}
    for c in converted:
        for s in c["samples"]:
            firsts.setdefault(s["model_id"], s["image"])
        for u in c["unlabeled"]:
            firsts.setdefault(u["id"], u["images"][0])
    picks = [firsts[k] for k in sorted(firsts)[:n]]
    if not picks:
        return None
    cols = min(4, len(picks))
    rows = (len(picks) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cell, rows * cell), "white")
    for i, rel in enumerate(picks):
        try:
            with Image.open(layout.root / rel) as im:
                thumb = im.convert("RGB").resize((cell, cell), Image.Resampling.LANCZOS)
        except OSError:
            continue
        sheet.paste(thumb, ((i % cols) * cell, (i // cols) * cell))
    import io

    buf = io.BytesIO()
    sheet.save(buf, format="PNG", compress_level=6)
    write_bytes_atomic(layout.contact_sheet, buf.getvalue())
    return buf.getvalue()
