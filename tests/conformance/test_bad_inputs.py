"""A hostile corpus made by the test from realdata: truncations, random bytes under every suffix,
empty files, NaN and huge coordinates, deeply nested JSON, lying STL counts, a non-UTF-8 name,
links in and out of the folder, a FIFO, folders named like models, and hostile files that must
never load (`_hostile`). Every file loads or fails with one clean line that names it (no traceback,
no hang, no crash, each in an isolated worker); an extract over the folder accounts for every entry
and no hostile file reaches a split. The counts are printed."""

from __future__ import annotations

import json
import os
import random
import struct
from collections import Counter

import pytest

from tests.conftest import record

pytestmark = pytest.mark.realdata

SUFFIXES = (".step", ".ifc", ".obj", ".stl", ".ply", ".off", ".glb", ".json", ".txt")


def _pick(realdata, kind: str, suffix: str):
    files = sorted(p for p in (realdata / kind).rglob(f"*{suffix}") if p.is_file() and p.stat().st_size > 2000)
    return files[len(files) // 2] if files else None


def _corpus(realdata, out):
    rng = random.Random(0)
    out.mkdir()
    for kind, suffix in (("step", ".step"), ("ifc", ".ifc"), ("obj", ".obj"), ("stl", ".stl"),
                         ("deepcad_json", ".json")):
        src = _pick(realdata, kind, suffix)
        if src is None:
            continue
        data = src.read_bytes()
        (out / f"good_{src.stem}{suffix}").write_bytes(data)  # the whole file: a model among the bad
        for frac in (0.1, 0.5, 0.9):
            (out / f"trunc{int(frac * 100)}_{src.stem}{suffix}").write_bytes(data[: int(len(data) * frac)])
    for suffix in SUFFIXES:
        (out / f"random{suffix}").write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
        (out / f"empty{suffix}").write_bytes(b"")
    tri = "facet normal 0 0 1\nouter loop\nvertex {0} 0 0\nvertex 0 1 0\nvertex 0 0 1\nendloop\nendfacet\n"
    (out / "nan.stl").write_text("solid x\n" + tri.format("nan") + "endsolid x\n")
    (out / "huge.stl").write_text("solid x\n" + tri.format("3e38") + "endsolid x\n")
    (out / "huge.obj").write_text("v 1e30 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\n")
    (out / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (out / "deep_obj.json").write_text('{"a":' * 50_000 + "1" + "}" * 50_000)
    (out / "not_cad.json").write_text(json.dumps({"entities": {}, "sequence": "oops"}))
    one = struct.pack("<12fH", *([0.0] * 12), 0)
    (out / "lying_count.stl").write_bytes(b"\0" * 80 + struct.pack("<I", 1000) + one)
    (out / "lying_zero.stl").write_bytes(b"\0" * 80 + struct.pack("<I", 0) + one * 3)
    with open(os.path.join(os.fsencode(out), b"bad\xffname.stl"), "w") as fh:
        fh.write("solid x\n" + tri.format(1) + "endsolid x\n")
    good = _pick(realdata, "stl", ".stl")
    os.symlink(good, out / "link_out.stl")
    (out / "inside.stl").write_bytes(good.read_bytes())
    os.symlink(out / "inside.stl", out / "link_in.stl")
    os.symlink(out / "missing.stl", out / "dangling.stl")
    os.symlink(out / "loop.stl", out / "loop.stl")
    os.mkfifo(out / "fifo.stl")
    (out / "folder.step").mkdir()
    (out / "folder.json").mkdir()
    os.symlink(out / "folder.step", out / "dirlink.obj")
    _hostile(out, realdata)
    return out


def _box_json(size: float = 0.02, depth: float = 0.02) -> dict:
    from cadlib.synth import ModelBuilder, rect

    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, size, size)], "NewBody", "OneSide", depth)
    return b.json()


def _hostile(out, realdata) -> None:
    """Files that must never load (every one a clean refusal naming it, `HOSTILE` in its name):
    non-finite, huge and sub-micrometre geometry in every format, a number past Python's integer
    limit, a zero-depth extrude, a non-UTF-8 name with random bytes."""
    box = json.dumps(_box_json())
    (out / "HOSTILE_inf.json").write_text(box.replace("0.02", "Infinity", 1))
    (out / "HOSTILE_nan.json").write_text(box.replace("0.02", "NaN", 1))
    (out / "HOSTILE_1e300_rect.json").write_text(json.dumps(_box_json(size=1e300)))
    (out / "HOSTILE_1e-12m_box.json").write_text(json.dumps(_box_json(1e-12, 1e-12)))
    (out / "HOSTILE_zero_depth.json").write_text(json.dumps(_box_json(depth=0.0)))
    doc = _box_json()
    ext = next(e for e in doc["entities"].values() if e["type"] == "ExtrudeFeature")
    ext["extent_one"]["distance"]["value"] = 12345
    (out / "HOSTILE_5000_digits.json").write_text(json.dumps(doc).replace("12345", "9" * 5000))
    (out / "HOSTILE_1e300.obj").write_text("v 1e300 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\n")
    (out / "HOSTILE_1e-15.obj").write_text("v 1e-15 0 0\nv 0 1e-15 0\nv 0 0 1e-15\nv 0 0 0\nf 1 2 3\nf 1 2 4\n")
    tri = "facet normal 0 0 1\nouter loop\nvertex 1e300 0 0\nvertex 0 1 0\nvertex 0 0 1\nendloop\nendfacet\n"
    (out / "HOSTILE_1e300.stl").write_text(f"solid x\n{tri}endsolid x\n")
    step = _pick(realdata, "step", ".step")
    if step is not None:  # every point of a real STEP moved to 1e300
        import re

        text = step.read_text(errors="replace")
        (out / "HOSTILE_1e300.step").write_text(re.sub(
            r"(CARTESIAN_POINT\s*\(\s*'[^']*'\s*,\s*\()([^)]*)\)",
            lambda m: m.group(1) + ",".join("1.E300" for _ in m.group(2).split(",")) + ")", text))
    with open(os.path.join(os.fsencode(out), b"HOSTILE_\xfe\xffname.stl"), "wb") as fh:
        fh.write(random.Random(1).randbytes(3000))


def test_every_bad_input_is_one_clean_line(realdata, tmp_path):
    from cadlib.dataset.sources import list_files
    from cadlib.errors import readable
    from cadlib.ingest import summarize_model
    from cadlib.workers import Status, run_isolated

    corpus = _corpus(realdata, tmp_path / "bad")
    entries = list_files(corpus, links_outside=False)
    counts: Counter = Counter()
    bad = []
    loadable = [e for e in entries if e.problem is None]
    for e in entries:
        if e.problem is not None:
            counts[f"listed as a failure row ({e.problem[0]})"] += 1
    for out in run_isolated(summarize_model, [str(e.path) for e in loadable], workers=2, timeout=120):
        if out.status is Status.OK:
            counts["loaded"] += 1
            if os.path.basename(out.item).startswith(("trunc", "HOSTILE")):
                bad.append((out.item, "a truncated or hostile file loaded"))
        elif out.status is Status.ERROR and out.error_class in (
                "ParseError", "UnsupportedFormat", "BuildError", "TextSyntaxError", "QuantizeError",
                "QuantisationChangesTopology"):
            name = readable(os.path.basename(out.item))
            one_line = "\n" not in out.message and name in out.message
            counts["clean error" if one_line else "unclear error"] += 1
            if not one_line:
                bad.append((out.item, out.message))
        else:
            counts[out.status.value.upper() if out.status is not Status.ERROR else "TRACEBACK"] += 1
            bad.append((out.item, out.error_class, out.message))
    for k, v in counts.items():
        record("bad inputs", k, v)
    assert not bad, bad
    assert counts["loaded"] + counts["clean error"] + sum(v for k, v in counts.items() if k.startswith("listed")) \
        == len(entries)
    assert len(entries) >= 45


def _build(tmp_path, name: str, folder, until: str) -> dict:
    from config import get_settings
    from flows.build_dataset import run_build

    settings_file = tmp_path / f"{name}.yaml"
    settings_file.write_text(f"dataset:\n  source: files\n  path: {folder}\n  name: {name}\n  layout: per_view\n"
                             "render:\n  size: 64\n  style: lines\n")
    os.environ["CADRECON_DATA_DIR"] = str(tmp_path / "data")
    try:
        get_settings.cache_clear()
        return run_build(str(settings_file), until=until)
    finally:
        os.environ.pop("CADRECON_DATA_DIR", None)
        get_settings.cache_clear()


def _outputs(root) -> dict[str, str]:
    """sha256 of each model's rendered views and sequence text, by file name."""
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for folder in ("images", "sources") if (root / folder).is_dir() for p in sorted((root / folder).iterdir())}


def test_a_build_over_the_bad_corpus_accounts_for_every_entry_and_keeps_the_good(realdata, tmp_path, prefect_server):
    """Every entry is a model or a failure row; the good files' views and sequences are byte for
    byte those of a build over the good files alone."""
    import shutil

    from cadlib.dataset.sources import list_files

    corpus = _corpus(realdata, tmp_path / "bad")
    _build(tmp_path, "bad", corpus, "render")
    root = tmp_path / "data" / "datasets" / "bad"
    rows = [json.loads(x) for x in (root / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == len(list_files(corpus))
    statuses = Counter(r["status"] for r in rows)
    hostile = [r for r in rows if r["source"].startswith("HOSTILE")]
    assert len(hostile) >= 11 and all(r["status"] == "failed" for r in hostile), hostile  # none reaches a split
    record("bad inputs", f"extract rows {dict(statuses)}", 1)
    assert statuses["failed"] >= 30
    good = tmp_path / "good"
    good.mkdir()
    for r in rows:
        if r["status"] != "failed":
            shutil.copyfile(corpus / r["source"], good / r["source"])
    assert len(list(good.iterdir())) >= 5
    _build(tmp_path, "good", good, "render")
    with_bad, alone = _outputs(root), _outputs(tmp_path / "data" / "datasets" / "good")
    assert alone and with_bad == alone
    record("bad inputs", f"good models' outputs identical with and without the bad entries ({len(alone)} files)", 1)
