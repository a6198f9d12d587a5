"""The README's "Five minutes with your own files", run as shown: its YAML (the folder swapped for
one of our own files: synthetic DeepCAD JSON parts and a STEP made from one of them), then every
command of steps 1-3 in order, in a fresh folder, through the real CLI. Two substitutions only:
`--minutes 10` trains for a few seconds, and the GPU recipe's line is checked to refuse at once
offline instead of training."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = (ROOT / "README.md").read_text(encoding="utf-8").split("## Five minutes with your own files", 1)[1]
SECTION = SECTION.split("**4. Serve.**", 1)[0]

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", SECTION, flags=re.S)


def _commands() -> list[list[str]]:
    lines = [ln.split(" #")[0].strip() for b in _blocks("bash") for ln in b.splitlines()]
    return [shlex.split(ln)[1:] for ln in lines if ln.startswith("cadrecon ")]


def _own_files(folder: Path) -> Path:
    """24 synthetic parts as DeepCAD JSON, and one of them as STEP (`part.step` beside the folder)."""
    from cadlib import occ
    from cadlib.ingest import load_model
    from cadlib.synth import write_synthetic

    write_synthetic(folder, 24, seed=5)
    first = sorted(folder.glob("*.json"))[0]
    occ.write_step(load_model(first).shape, folder.parent / "part.step")
    return folder


class Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.exit_code, self.output = proc.returncode, proc.stdout + proc.stderr


def test_the_five_minute_path_runs_as_shown(tmp_path, monkeypatch):
    """Each command in its own process, as a user types it (on the tests' Prefect server)."""
    from prefect.settings import PREFECT_API_URL

    cli = Path(sys.executable).with_name("cadrecon")
    env = {**os.environ, "CADRECON_QUIET": "1", "HF_HUB_OFFLINE": "1", "PREFECT_API_URL": PREFECT_API_URL.value()}
    env.pop("CADRECON_DATA_DIR", None)

    def run(args: list[str]) -> Result:
        return Result(subprocess.run([str(cli), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                                     timeout=600))

    (yaml_text,) = _blocks("yaml")
    assert "/data/my_parts" in yaml_text
    _own_files(tmp_path / "my_parts_files")
    (tmp_path / "my_parts.yaml").write_text(yaml_text.replace("/data/my_parts", str(tmp_path / "my_parts_files")))
    commands = _commands()
    assert [c[0] for c in commands] == ["dataset", "dataset", "train", "train", "train", "reconstruct", "evaluate",
                                        "score"], commands
    monkeypatch.chdir(tmp_path)
    for args in commands:
        if args[0] == "train" and "qwen2_vl_2b_lora" in args:  # the GPU line: offline, one line at once
            t = time.monotonic()
            res = run(args)
            assert res.exit_code != 0 and time.monotonic() - t < 15, res.output  # a process start included
            assert res.output.strip().count("\n") == 0 and "hf download" in res.output, res.output
            continue
        if "--minutes" in args:
            args[args.index("--minutes") + 1] = "0.15"
        if args[0] == "score":  # its folders: the reconstruction as the prediction of part.step's truth
            Path("predictions").mkdir()
            Path("truths").mkdir()
            if Path("part_rebuilt.step").is_file():
                Path("part_rebuilt.step").rename("predictions/part.step")
            else:  # a few seconds of training built no solid: the part's own sequence stands in
                first = sorted(Path("my_parts_files").glob("*.json"))[0]
                Path("predictions/part.json").write_bytes(first.read_bytes())
            Path("part.step").rename("truths/part.step")
        res = run(args)
        if args[0] == "reconstruct" and res.exit_code == 1:  # ran; no sample built a solid, and it says so
            assert "no valid reconstruction among the samples" in res.output, res.output
            continue
        assert res.exit_code == 0, (args, res.output[-3000:])
        if args[:2] == ["dataset", "build"]:
            assert "samples" in res.output and Path("data/datasets/my_parts/train.json").is_file()
        if args[0] == "score":
            assert "cadrille" in res.output and "deepcad" in res.output
