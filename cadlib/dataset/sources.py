"""Listing the models of a source: a DeepCAD download, a folder of files, or the synthetic
generator. Each listing is a list of `SourceItem`s in a deterministic order."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
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
    problem: tuple[str, str] | None = None
    """(error class, message) of an entry that is no readable model file (`list_files`): it becomes a
    row of the failure table without being opened."""


def model_id(rel: str) -> str:
    """A file-name-safe id from a path relative to the source root (suffix kept, so `a.step`
    and `a.stl` stay apart): ``step/as1-oc-214.stp`` -> ``step__as1-oc-214_stp``."""
    p = Path(rel)
    stem = "__".join((*p.parent.parts, p.stem)) if p.parent.parts else p.stem
    ident = f"{stem}_{p.suffix[1:].lower()}" if p.suffix else stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ident)


def list_files(root: str | Path, *, links_outside: bool = False) -> list[SourceItem]:
    """Every entry under `root` that is named like a model, recursively, sorted by path: model
    files, and as items with a `problem` (rows of the failure table, never opened): names that are
    not UTF-8 (`UnreadableName`, shown with the bad bytes escaped), symbolic links that dangle,
    loop or leave `root` (`Symlink`; `links_outside` allows the last), and entries that are no
    regular file, such as FIFOs, sockets, directories named like a model or links to directories
    (`NotAFile`). Hidden folders (.git, .cache) and files with other suffixes (companions such as
    .mtl and textures) are not listed."""
    root = Path(root)
    if not root.is_dir():
        raise ParseError("not a folder (dataset.path of the files source)", source=str(root))
    real_root = root.resolve()
    items = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        for name in dirnames:
            path = here / name
            if path.is_symlink() or name.lower().endswith(MODEL_SUFFIXES):
                items.append(_entry(root, path, ("NotAFile", "a link to a folder" if path.is_symlink()
                                                 else "a folder named like a model file")))
        for name in filenames:
            path = here / name
            if name.startswith(".") or not name.lower().endswith(MODEL_SUFFIXES):
                continue
            items.append(_entry(root, path, _problem(path, real_root, links_outside)))
    return sorted(items, key=lambda i: i.rel)


def _problem(path: Path, real_root: Path, links_outside: bool) -> tuple[str, str] | None:
    if _readable(path.name) != path.name:
        return ("UnreadableName", "the file name is not UTF-8")
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError) as exc:  # dangling, or a loop
            kind = "loops" if isinstance(exc, RuntimeError) or getattr(exc, "errno", 0) == errno.ELOOP else "dangles"
            return ("Symlink", f"the link {kind} (-> {_readable(os.readlink(path))})")
        if not links_outside and not target.is_relative_to(real_root):
            return ("Symlink", f"the link leaves the source folder (-> {_readable(str(target))}); "
                               "allow with links_outside")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return ("NotAFile", f"cannot be read ({exc.strerror})")
    if not stat.S_ISREG(mode):
        return ("NotAFile", "a folder" if stat.S_ISDIR(mode) else "not a regular file (a FIFO, socket or device)")
    return None


def _entry(root: Path, path: Path, problem: tuple[str, str] | None) -> SourceItem:
    rel = _readable(path.relative_to(root).as_posix())
    return SourceItem(model_id(rel), path, rel, problem=problem)


def _readable(name: str) -> str:
    """A file name as text: undecodable bytes (kept by Python as surrogates) shown as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


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
