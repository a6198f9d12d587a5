"""Listing the models of a source: a DeepCAD download, a folder of files, or the synthetic
generator. Each listing is a list of `SourceItem`s in a deterministic order."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cadlib.dataset.digests import bytes_digest, matches
from cadlib.dataset.layout import read_json, write_bytes_atomic
from cadlib.errors import ParseError
from cadlib.synth import Planned

if TYPE_CHECKING:
    from cadlib.dataset.build import Runner

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
    ident = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{stem}_{p.suffix[1:].lower()}" if p.suffix else stem)
    if len(ident) > MAX_ID:  # `<id>_<view>.png` and its temporary name must fit a file name (255 bytes)
        ident = f"{ident[:MAX_ID - 17]}-{hashlib.sha256(rel.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"
    return ident


MAX_ID = 160
"""The longest model id: longer ones keep their start and a hash of the whole relative path."""


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


@dataclass(frozen=True, slots=True)
class SynthJob:
    """One synthetic model to draw (`draw_synthetic`) into `path`, on the `bits`-bit grid."""

    planned: Planned
    bits: int
    path: str


def draw_synthetic(job: SynthJob) -> str:
    """Draws one model into its file (rewritten only where the content changed, so modification
    times mean something); returns the file's digest (`cadlib.dataset.digests.file_digest`)."""
    from cadlib.synth import draw

    content = json.dumps(draw(job.planned, job.bits), indent=1).encode("utf-8")
    path = Path(job.path)
    if not path.is_file() or path.read_bytes() != content:
        write_bytes_atomic(path, content)
    return bytes_digest(content)


def write_synthetic_source(out_dir: str | Path, n: int, seed: int, *, bits: int, run: Runner, record: Path,
                           progress: Callable[[int, int], None] | None = None) -> list[SourceItem]:
    """Draws the `n` models of synthetic set `seed` into `out_dir` in worker processes (`run`) and
    lists them. A model already there is kept where `record` (written here) says this generator
    code drew it at these bits and the file still holds what it wrote; the rest are drawn again.
    A model that cannot be drawn is listed with its problem (a failure row)."""
    from cadlib.synth import generator_key, plan

    out_dir = Path(out_dir)
    key = [generator_key(), bits]
    try:
        old = read_json(record) if record.is_file() else {}
    except ValueError:  # a broken record: every model is checked by drawing it again
        old = {}
    written = old.get("files", {}) if isinstance(old, dict) and old.get("key") == key else {}
    planned = plan(n, seed)
    files: dict[str, str] = {}
    todo = []
    for p in planned:
        path = out_dir / f"{p.name}.json"
        if matches(path, written.get(p.name)):
            files[p.name] = written[p.name]
        else:
            todo.append(SynthJob(p, bits, str(path)))
    problems: dict[str, tuple[str, str]] = {}
    for done, outcome in enumerate(run(draw_synthetic, todo), 1):
        name = outcome.item.planned.name
        if outcome.ok:
            files[name] = outcome.value
        else:
            problems[name] = (outcome.error_class, (outcome.message or "").splitlines()[0] if outcome.message else "")
        if progress:
            progress(done, len(todo))
    if todo:
        write_bytes_atomic(record, json.dumps({"key": key, "files": files}).encode("utf-8"))
    return [SourceItem(p.name, out_dir / f"{p.name}.json", f"{p.name}.json", problem=problems.get(p.name))
            for p in planned]
