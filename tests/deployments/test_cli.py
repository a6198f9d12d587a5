"""The `cadrecon` CLI: commands work end to end, bad input is one line and exit status 2."""

from __future__ import annotations

import ast
import json
import re

import pytest
from typer.testing import CliRunner

from cadlib import occ
from cadlib.synth import ModelBuilder, rect
from deployments.cli import app

runner = CliRunner()


@pytest.fixture
def cube_json(tmp_path):
    b = ModelBuilder()
    b.extrude("xy", (0, 0, 0), [rect(0, 0, 0.005, 0.005)], "NewBody", "OneSide", 0.005)  # 5 mm, in metres
    path = tmp_path / "cube.json"
    path.write_text(json.dumps(b.json()))
    return path


def test_inspect_json_reports_mm(cube_json):
    res = runner.invoke(app, ["inspect", str(cube_json), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["format"] == "reconstruction-json" and info["extrudes"] == 1
    assert info["units"] == "m" and info["scale_to_mm"] == 1000.0
    assert info["volume_mm3"] == pytest.approx(125.0)
    assert info["bbox_max"] == pytest.approx([5, 5, 5])
    assert info["valid"] is True


def test_sequence_text_then_build_from_it(cube_json, tmp_path):
    res = runner.invoke(app, ["sequence", str(cube_json)])
    assert res.exit_code == 0 and res.stdout.startswith("bits 8\nsketch ")
    text = tmp_path / "cube.txt"
    text.write_text(res.stdout)
    out = tmp_path / "cube.step"
    res = runner.invoke(app, ["build", str(text), "--out", str(out)])
    assert res.exit_code == 0, res.output
    # the text is normalised: the cube's side becomes 1.5
    assert occ.volume(occ.read_step(out)) == pytest.approx(1.5**3, rel=1e-6)


def test_sequence_cadquery(cube_json):
    res = runner.invoke(app, ["sequence", str(cube_json), "--format", "cadquery"])
    assert res.exit_code == 0
    ast.parse(res.stdout)


def test_build_json_writes_step_in_mm(cube_json, tmp_path):
    out = tmp_path / "o" / "cube.step"
    res = runner.invoke(app, ["build", str(cube_json), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert occ.volume(occ.read_step(out)) == pytest.approx(125.0, rel=1e-6)


def test_render_writes_views_and_svgs(cube_json, tmp_path):
    out = tmp_path / "views"
    res = runner.invoke(app, ["render", str(cube_json), "--out", str(out), "--style", "lines",
                              "--views", "front,iso", "--size", "64", "--tile"])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cube_front.png", "cube_front.svg", "cube_iso.png", "cube_iso.svg", "cube_tile.png"]
    res = runner.invoke(app, ["render", str(cube_json), "--out", str(tmp_path), "--views", "front,back"])
    assert res.exit_code == 2 and "unknown view 'back'" in res.stderr


def test_synth(tmp_path):
    res = runner.invoke(app, ["synth", "--n", "3", "--out", str(tmp_path), "--seed", "2"])
    assert res.exit_code == 0 and len(list(tmp_path.glob("*.json"))) == 3


@pytest.mark.parametrize(
    ("content", "args", "cause"),
    [
        (None, ["inspect"], "no such file"),
        ("", ["inspect"], "empty file"),
        ("{broken", ["inspect"], "not readable as JSON"),
        ('{"body_one": 1, "body_two": 2, "joints": []}', ["inspect"], "joint-set"),
        ("sketch 1 2 3\n", ["build", "--out", "x.step"], "line 1, column 13"),
        ("hello", ["sequence"], "neither reconstruction JSON nor sequence text"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, content, args, cause):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    res = runner.invoke(app, [args[0], str(path), *args[1:]])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {path}") and cause in lines[0]
    assert "Traceback" not in res.output


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "model.xyz"
    path.write_text("1 2 3")
    res = runner.invoke(app, ["inspect", str(path)])
    assert res.exit_code == 2 and "unsupported format (suffix '.xyz'" in res.stderr


@pytest.mark.usefixtures("prefect_server")
def test_demo_builds_the_demo_dataset_and_says_where(tmp_path, monkeypatch):
    from config import get_settings

    monkeypatch.setenv("CADRECON_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        res = runner.invoke(app, ["demo", "--quiet", "--minutes", "0.2"])
    finally:
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    root = tmp_path / "datasets" / "demo"
    from deployments.dataset_cli import ui_hint

    # the harness's server is the active one, so the hint names its UI
    assert f"dataset: {root}" in res.stdout and ui_hint() in res.stdout and "127.0.0.1" in ui_hint()
    # then the tiny model's convergence test-run (100 train / 20 val samples, the recipe's 8 epochs)
    report = json.loads((tmp_path / "runs" / "demo-tiny_cpu-test" / "training_report.json").read_text())
    assert report["verdict"] == "converged", report["history"]
    assert report["history"][-1]["train_loss"] <= 0.5 * report["history"][0]["train_loss"]
    assert "converged: train loss" in res.stdout
    # then a short training and the reconstruction of a held-out part, beside the constant baseline
    demo = json.loads((tmp_path / "runs" / "demo-tiny_cpu-demo" / "training_report.json").read_text())
    assert demo["train_mode"] == "full" and demo["max_minutes"] == 0.2 and demo["train_seconds"] < 60
    assert "4 generated, 4 parsed" in res.stdout and "constant baseline: CD[cadrille]" in res.stdout
    assert "wrote " in res.stdout or "no valid reconstruction among the samples" in res.stdout
    if "wrote " in res.stdout:
        assert list((tmp_path / "runs" / "demo-tiny_cpu-demo" / "reconstruction").glob("*/side_by_side.png"))
    info = json.loads((root / "cadrecon.json").read_text())
    validation = json.loads((root / "validation.json").read_text())
    dropped = validation["dropped_topology"]
    assert validation["ok"] and dropped == 0  # parts drawn on the grid: none is another part at 8 bits
    assert f"dropped for a topology change: {dropped}" in res.stdout
    assert info["models"]["in_dataset"] == 200 - validation["models"]["failed"] == sum(info["samples"].values())
    rebuild = validation["stats"]["target_rebuild"]
    assert rebuild["models"] == info["models"]["in_dataset"] == rebuild["valid"] and set(rebuild["solids"]) == {"1"}
    from PIL import Image

    with Image.open(root / json.loads((root / "train.json").read_text())[0]["image"]) as im:
        assert im.size == (256, 256)
    res = runner.invoke(app, ["dataset", "list"])
    kept = info["models"]["kept"]
    assert res.exit_code == 0 and re.search(rf"^demo +ready +models +{kept} ", res.stdout, re.M), res.stdout
    res = runner.invoke(app, ["dataset", "status", str(root)])
    assert res.exit_code == 0 and "render: 4/4 shard(s)" in res.stdout, res.stdout
    res = runner.invoke(app, ["dataset", "validate", str(root)])
    assert res.exit_code == 0 and "valid; 0 structural" in res.stdout, res.stdout
    image = json.loads((root / "train.json").read_text())[3]["image"]
    (root / image).write_bytes(b"not a png")
    res = runner.invoke(app, ["dataset", "validate", str(root)])
    assert res.exit_code == 1 and "BrokenImage" in res.stdout


def test_dataset_commands_give_one_line_errors(tmp_path):
    res = runner.invoke(app, ["dataset", "status", str(tmp_path / "nope")])
    assert res.exit_code == 2 and res.stderr.startswith("error: ") and "no dataset here" in res.stderr
    res = runner.invoke(app, ["dataset", "build", "no_such_preset"])
    assert res.exit_code == 2 and "unknown preset 'no_such_preset'" in res.stderr


@pytest.fixture
def prefect_console():
    """Prefect's console log handlers keep the stream they were made with: after an earlier
    CliRunner call, that is a closed capture buffer. Point them at this test's stderr."""
    import logging
    import sys

    for logger in [logging.getLogger(), *logging.root.manager.loggerDict.values()]:
        for h in getattr(logger, "handlers", []):
            if hasattr(h, "console"):
                h.console.file = sys.stderr


@pytest.mark.usefixtures("prefect_server", "prefect_console")
def test_dataset_build_until_a_stage(tmp_path):
    from tests.flows.conftest import tiny_yaml

    preset = str(tiny_yaml(tmp_path / "staged.yaml", tmp_path / "data"))
    res = runner.invoke(app, ["dataset", "build", preset, "--until", "render", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "(stopped after render)" in res.stdout and "'render': '12 ok, 0 failed'" in res.stdout
    res = runner.invoke(app, ["dataset", "build", preset, "--until", "deploy"])
    assert res.exit_code == 2 and "--until 'deploy': expected one of extract, render, convert, validate" in res.stderr


def test_the_ui_hint_follows_the_active_prefect_settings(tmp_path):
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    from deployments.dataset_cli import ui_hint

    with temporary_settings({PREFECT_API_URL: "http://prefect.example:4300/api"}):
        assert ui_hint() == "Prefect UI: http://prefect.example:4300"
    with temporary_settings(updates={PREFECT_HOME: str(tmp_path)}, restore_defaults={PREFECT_API_URL}):
        hint = ui_hint()
    assert str(tmp_path) in hint and "~/.prefect" not in hint


def test_an_offline_hub_recipe_fails_at_once_on_one_line_with_no_run(tmp_path, monkeypatch):
    """Before: 69 s of retries, a 141-line traceback and a Failed run; now one line, before the flow."""
    import time

    from huggingface_hub import constants

    import flows.train

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    started = []
    monkeypatch.setattr(flows.train, "train", lambda *a, **k: started.append(a))  # the flow: never reached
    ds = tmp_path / "built"
    ds.mkdir()
    (ds / "train.json").write_text("[]")
    t = time.monotonic()
    res = runner.invoke(app, ["train", "--dataset", str(ds), "--recipe", "qwen2_vl_2b_lora"])
    assert time.monotonic() - t < 5 and res.exit_code != 0 and not started
    out = res.output.strip()
    assert out.count("\n") == 0 and "hf download Qwen/Qwen2-VL-2B-Instruct" in out, out


def test_a_missing_iou_says_why(capsys, tmp_path):
    from deployments.train_cli import show_reconstruction

    score = {"valid": True, "error": "", "cd": {"cadrille": 1.5, "deepcad": 2.0},
             "iou": {"cadrille": None, "deepcad": None},
             "iou_method": {"cadrille": "none: the truth mesh is not closed", "deepcad": "none: the truth mesh is not closed"}}
    r = {"samples": 1, "parsed": 1, "valid": 1, "single": score, "best_of_n": score, "baseline": None,
         "step": str(tmp_path / "a.step"), "side_by_side": str(tmp_path / "a.png")}
    show_reconstruction(tmp_path / "part.stl", r)
    out = capsys.readouterr().out
    assert "IoU n/a (none: the truth mesh is not closed)" in out and out.count("not closed") == 2  # single, best
