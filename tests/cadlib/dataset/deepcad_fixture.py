"""A small DeepCAD download made in code: cad_json/<bucket>/<id>.json and the official split file,
with a duplicate across splits, a model that cannot be parsed and a listed id with no file."""

from __future__ import annotations

import json
from pathlib import Path

from cadlib.synth import generate


def make_deepcad(root: Path, n: int = 30) -> dict[str, list[str]]:
    # sturdy families: thick parts that keep their solid at 8 bits (the counts below rely on it)
    models = generate(n, seed=11, families=["boss_on_block", "side_features", "stepped_pocket", "turned_stack"])
    split = {"train": [], "validation": [], "test": []}
    for i, (_, data) in enumerate(models):
        ident = f"0000/{i:08d}"
        path = root / "cad_json" / f"{ident}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        split["test" if i % 5 == 0 else "validation" if i % 5 == 1 else "train"].append(ident)
    # a copy of test model 0 in train (DeepCAD's known train/test leakage), under another id
    (root / "cad_json" / "0001").mkdir()
    (root / "cad_json" / "0001" / "00000999.json").write_text((root / "cad_json" / "0000" / "00000000.json").read_text())
    split["train"].append("0001/00000999")
    (root / "cad_json" / "0001" / "00000998.json").write_text('{"entities": {}, "sequence": [{"type": "Fillet"}]}')
    split["train"].append("0001/00000998")
    split["train"].append("0001/00000997")  # listed, no file
    (root / "train_val_test_split.json").write_text(json.dumps(split))
    return split
