"""Listing the models of a source: a DeepCAD download, a folder of files, or the synthetic
generator. Each listing is a list of `SourceItem`s in a deterministic order."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from cadlib.dataset.layout import write_bytes_atomic
from cadlib.errors import ParseError

MODEL_SUFFIXES = (".step", ".stp", ".ifc", ".obj", ".stl", ".ply", ".off", ".glb", ".gltf", ".json", ".txt")
"""What the `files` source picks up (companions such as .mtl and textures are not models)."""

SPLIT_FILE = "train_val_test_split.json"
_OFFICIAL_SPLITS = {"train": "train", "validation": "val", "test": "test"}


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One model of a source: its dataset id, file, path relative to the source root, and the
    source's own split (DeepCAD's official one) or "" where the source has none."""

    id: str
    path: Path
    rel: str
    split: str = ""


def model_id(rel: str) -> str:
    """A file-name-safe id from a path relative to the source root (suffix kept, so `a.step`
    and `a.stl` stay apart): ``step/as1-oc-214.stp`` -> ``step__as1-oc-214_stp``."""
    p = Path(rel)
    stem = "__".join((*p.parent.parts, p.stem)) if p.parent.parts else p.stem
    ident = f"{stem}_{p.suffix[1:].lower()}" if p.suffix else stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ident)


def list_files(root: str | Path) -> list[SourceItem]:
    """Every model file under `root`, recursively, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise ParseError("not a folder (dataset.path of the files source)", source=str(root))
    items = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES):
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden folders (.git, .cache) hold no models
        rel = path.relative_to(root).as_posix()
        items.append(SourceItem(model_id(rel), path, rel))
    return items


def find_deepcad(root: str | Path) -> tuple[Path, Path]:
    """The `cad_json/` folder and the split file of a DeepCAD download at `root` (the archive
    unpacks to `data/cad_json` and `data/train_val_test_split.json`; both layouts are accepted)."""
    root = Path(root)
    for base in (root, root / "data"):
        if (base / "cad_json").is_dir() and (base / SPLIT_FILE).is_file():
            return base / "cad_json", base / SPLIT_FILE
    raise ParseError(
        f"no DeepCAD download here (expected cad_json/ and {SPLIT_FILE}); set dataset.path to the "
        "folder that holds them, or dataset.download: true to fetch the official archive",
        source=str(root),
    )


def list_deepcad(root: str | Path) -> dict[str, list[SourceItem]]:
    """DeepCAD's models by official split (train / val / test), each list in the split file's order.

    Ids listed in the split file keep their name (``0000/00000007`` -> ``00000007``); a listed id
    whose JSON is missing is still returned (extract reports it).
    """
    cad_json, split_file = find_deepcad(root)
    try:
        split = json.loads(split_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParseError(f"unreadable split file ({exc})", source=str(split_file)) from None
    out: dict[str, list[SourceItem]] = {}
    for key, name in _OFFICIAL_SPLITS.items():
        ids = split.get(key)
        if not isinstance(ids, list):
            raise ParseError(f"split file has no list under {key!r}", source=str(split_file))
        out[name] = [
            SourceItem(Path(str(i)).name, cad_json / f"{i}.json", f"cad_json/{i}.json", name) for i in ids
        ]
    return out


def write_synthetic_source(out_dir: str | Path, n: int, seed: int) -> list[SourceItem]:
    """Generates `n` DeepCAD-format models into `out_dir` (rewriting only files whose content
    changed, so their modification times mean something) and lists them."""
    from cadlib.synth import generate

    out_dir = Path(out_dir)
    items = []
    for name, data in generate(n, seed):
        path = out_dir / f"{name}.json"
        content = json.dumps(data, indent=1).encode("utf-8")
        if not path.is_file() or path.read_bytes() != content:
            write_bytes_atomic(path, content)
        items.append(SourceItem(name, path, path.name))
    return items
