"""LoRA targets, and the real training loop for a few steps on the tiny model: files, reload,
generation, resume after kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlm.lora import target_pattern
from vlm.train import TrainSpec, run_training
from vlm.verdict import verdict

ROOT = Path(__file__).resolve().parents[2]


def test_lora_targets_the_language_model_unless_asked(standin_model):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(standin_model)
    names = [n for n, _ in model.named_modules()]
    text_only = [n for n in names if re.fullmatch(target_pattern(["q_proj", "v_proj"]), n)]
    both = [n for n in names if re.fullmatch(target_pattern(["q_proj", "v_proj"], vision=True), n)]
    assert text_only and all("text_model" in n for n in text_only)
    assert any("vision_model" in n for n in both) and set(text_only) < set(both)


def test_verdict_rule():
    h = [{"train_loss": 4.0, "val_loss": 3.0}, {"train_loss": 1.9, "val_loss": 2.0}]
    assert verdict(h) == (52.5, "converged")
    assert verdict([{"train_loss": 4.0, "val_loss": 3.0}, {"train_loss": 1.9, "val_loss": 3.5}])[1] == "improving"
    assert verdict([{"train_loss": 4.0, "val_loss": None}, {"train_loss": 3.9, "val_loss": None}])[1] == "not converging"
    # A falling train loss alone never converges (memorising also lowers it) ...
    assert verdict([{"train_loss": 4.0, "val_loss": None}, {"train_loss": 0.5, "val_loss": None}])[1] == "improving"
    # ... nor does a val loss that ended lower than it began but rose over the last epochs.
    rising = [{"train_loss": 4.0, "val_loss": 3.0}, {"train_loss": 2.0, "val_loss": 1.5},
              {"train_loss": 1.0, "val_loss": 1.7}, {"train_loss": 0.5, "val_loss": 1.9}]
    assert verdict(rising)[1] == "improving"
    flat = rising[:2] + [{"train_loss": 1.0, "val_loss": 1.4}, {"train_loss": 0.5, "val_loss": 1.403}]
    assert verdict(flat)[1] == "converged"
    # A loss that did not move is not converged, however the last digit fell.
    still = [{"train_loss": 7.3165, "val_loss": 7.3166}, {"train_loss": 7.3165, "val_loss": 7.3165}]
    assert verdict(still) == (0.0, "not converging")


def spec(model: Path, out: Path, **kw) -> TrainSpec:
    return TrainSpec(model=str(model), out_dir=str(out), epochs=kw.pop("epochs", 2), batch_size=4,
                     learning_rate=5e-3, lora_r=8, lora_alpha=16, lora_dropout=0.0,
                     lora_modules=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
                     device="cpu", **kw)


def test_training_writes_an_adapter_that_reloads_and_generates(standin_model, tiny_dataset, tmp_path):
    from vlm.generate import generate_text, load_trained

    epochs = []
    report = run_training(spec(standin_model, tmp_path / "run", save_merged=True), tiny_dataset, on_epoch=epochs.append)
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["val_loss"] is not None for e in epochs)
    assert [h["epoch"] for h in report["history"]] == [1, 2]
    assert report["history"][1]["train_loss"] < report["history"][0]["train_loss"]
    assert report["global_step"] == 6 and report["train_samples"] == 12 and report["samples_per_second"] > 0
    adapter = Path(report["adapter"])
    assert report["weights"] == report["adapter"] and report["train_mode"] == "lora"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert (Path(report["merged"]) / "config.json").is_file()
    assert json.loads((tmp_path / "run" / "training_report.json").read_text())["verdict"] == report["verdict"]
    model, processor = load_trained(adapter)
    text = generate_text(model, processor, [str(tiny_dataset / "images/val_0_front.png")],
                         "Write the construction sequence of this part.", max_new_tokens=12)
    assert isinstance(text, str) and text  # unconstrained: any 12 tokens


def test_tensorboard_events_hold_one_point_per_n_steps(tiny_model, tiny_dataset, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    report = run_training(spec(tiny_model, tmp_path / "run", mode="full", epochs=2, logging_steps=2), tiny_dataset)
    assert report["global_step"] == 6 and report["logging_steps"] == 2 and report["tracked_to"] == ["tensorboard"]
    train_points = [r for r in report["steps"] if "loss" in r]
    assert [r["step"] for r in train_points] == [2, 4, 6]  # one log row per 2 steps
    assert [r["step"] for r in report["steps"] if "eval_loss" in r] == [3, 6]  # and one per evaluation
    events = list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
    assert len(events) == 1 and report["tensorboard"] == str(tmp_path / "run" / "tensorboard")
    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    losses = acc.Scalars("train/loss")
    assert [e.step for e in losses] == [2, 4, 6]
    assert [round(e.value, 4) for e in losses] == [round(r["loss"], 4) for r in train_points]
    assert [e.step for e in acc.Scalars("eval/loss")] == [3, 6]


def test_an_unknown_or_missing_tracker_is_refused_before_training(tiny_model, tiny_dataset, tmp_path, monkeypatch):
    import transformers.integrations as integrations

    with pytest.raises(ValueError, match="report_to 'wandb'"):
        run_training(spec(tiny_model, tmp_path / "a", mode="full", report_to=("wandb",)), tiny_dataset)
    monkeypatch.setattr(integrations, "is_mlflow_available", lambda: False)
    with pytest.raises(ValueError, match=r"mlflow is not installed \(pip install 'cadrecon\[mlflow\]'\)"):
        run_training(spec(tiny_model, tmp_path / "b", mode="full", report_to=("mlflow",)), tiny_dataset)
    assert not (tmp_path / "a" / "training_report.json").exists()


def test_a_time_budget_stops_full_training_and_saves_the_whole_model(tiny_model, tiny_dataset, tmp_path):
    from vlm.generate import is_trained_folder, load_trained

    t0 = time.monotonic()
    report = run_training(spec(tiny_model, tmp_path / "run", epochs=1000, mode="full", max_minutes=0.1), tiny_dataset)
    assert time.monotonic() - t0 < 60  # 1,000 epochs were asked for; the clock stopped them
    assert 6 <= report["train_seconds"] < 30 and 0 < report["epochs_done"] < 1000
    assert report["train_mode"] == "full" and report["trainable_parameters"] == report["parameters"]
    assert report["history"][-1]["val_loss"] is not None  # the partial last epoch is evaluated too
    weights = Path(report["weights"])
    assert weights == tmp_path / "run" / "model" and is_trained_folder(weights) and "adapter" not in report
    from transformers import AutoModelForImageTextToText

    from vlm.conv_vlm import ConvIdefics3ForConditionalGeneration

    model, _ = load_trained(weights)
    assert isinstance(model, ConvIdefics3ForConditionalGeneration)  # saved and reloaded through the Auto classes
    assert isinstance(AutoModelForImageTextToText.from_pretrained(weights), ConvIdefics3ForConditionalGeneration)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoint(tiny_model, tiny_dataset, tmp_path):
    out = tmp_path / "run"
    code = (f"from vlm.train import run_training; from tests.vlm.test_lora_and_training import spec; "
            f"from pathlib import Path; run_training(spec(Path({str(tiny_model)!r}), Path({str(out)!r}), epochs=40, "
            f"mode='full'), {str(tiny_dataset)!r})")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list((out / "checkpoints").glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint before the run ended"
        time.sleep(0.05)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert not (out / "training_report.json").exists()
    done = max(int(p.name.split("-")[1]) for p in (out / "checkpoints").glob("checkpoint-*/trainer_state.json")
               for p in [p.parent])
    assert 0 < done < 120
    (out / "checkpoints" / "checkpoint-119").mkdir()  # as a kill in the middle of a save leaves it
    (out / "checkpoints" / "checkpoint-119" / "model.safetensors").write_bytes(b"partial")
    report = run_training(spec(tiny_model, out, epochs=40, mode="full"), tiny_dataset)
    assert report["resumed_from_checkpoint"] and report["global_step"] == 120  # 40 epochs x 3 steps
    assert len(report["history"]) == 40  # the epochs before the kill are in the report too
    assert not (out / "checkpoints" / "checkpoint-119").exists()


def test_a_hub_id_that_is_not_here_says_what_to_do():
    from vlm.loading import load_model

    with pytest.raises(ValueError, match=r"HuggingFaceTB/SmolVLM-256M-Instruct: cannot load.*init-tiny"):
        load_model("HuggingFaceTB/SmolVLM-256M-Instruct", local_files_only=True)


def test_init_tiny_command_saves_a_loadable_model(tiny_dataset, tmp_path):
    from typer.testing import CliRunner

    from deployments.cli import app
    from vlm.loading import load_model

    res = CliRunner().invoke(app, ["model", "init-tiny", "--dataset", str(tiny_dataset), "--out", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    model, processor = load_model(tmp_path / "m")
    from config.recipes import load_recipe
    from vlm.tiny import TinyShape

    tokens = TinyShape(**load_recipe("tiny_cpu").tiny.model_dump()).image_tokens  # the recipe's shape (16 today)
    assert type(model).__name__ == "ConvIdefics3ForConditionalGeneration" and processor.image_seq_len == tokens
    assert (tmp_path / "m" / "cadrecon_init.json").is_file()  # marked random: LoRA over it is refused


def test_an_adapter_loads_after_its_data_folder_moved(standin_model, tiny_dataset, tmp_path):
    import shutil

    from vlm.generate import load_trained

    data = tmp_path / "data"
    shutil.copytree(standin_model, data / "base")
    report = run_training(spec(data / "base", data / "runs" / "r", epochs=1), tiny_dataset)
    cfg = json.loads((Path(report["adapter"]) / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "../../../base"  # relative to the adapter, not absolute
    data.rename(tmp_path / "moved")
    model, _ = load_trained(tmp_path / "moved" / "runs" / "r" / "adapter")
    assert type(model).__name__ == "PeftModel" and not (tmp_path / "data").exists()


def test_export_merges_the_adapter_into_a_standalone_model_with_the_same_outputs(standin_model, tiny_dataset,
                                                                                 tmp_path):
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from typer.testing import CliRunner

    from deployments.cli import app
    from vlm.generate import load_trained

    report = run_training(spec(standin_model, tmp_path / "run", epochs=1), tiny_dataset)
    res = CliRunner().invoke(app, ["model", "export", str(tmp_path / "run"), str(tmp_path / "export")])
    assert res.exit_code == 0 and "merged adapter" in res.stdout, res.output
    out = tmp_path / "export"
    assert not (out / "adapter_config.json").exists() and (out / "config.json").is_file()
    assert json.loads((out / "cadrecon_export.json").read_text())["merged_lora"] is True
    merged = AutoModelForImageTextToText.from_pretrained(out).eval()  # no peft, no cadrecon
    processor = AutoProcessor.from_pretrained(out)
    adapted, _ = load_trained(report["adapter"])
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Write the sequence."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    with Image.open(tiny_dataset / "images" / "val_0_front.png") as im:
        batch = processor(text=[text], images=[[im.convert("RGB")]], return_tensors="pt")
    with torch.no_grad():
        a, b = adapted(**batch).logits, merged(**batch).logits
    assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()
    with torch.no_grad():  # and the adapter did change the base: the merge carries it
        base = AutoModelForImageTextToText.from_pretrained(standin_model).eval()(**batch).logits
    assert not torch.allclose(base, b, atol=1e-3)
    again = CliRunner().invoke(app, ["model", "export", str(tmp_path / "run"), str(out)])
    assert again.exit_code == 2 and "exists and is not empty" in again.stderr


def test_the_loss_curve_legend_names_only_the_series_drawn():
    import io

    import numpy as np
    from PIL import Image

    from vlm.report import loss_curve_png

    def has_val_colour(steps) -> bool:
        img = np.asarray(Image.open(io.BytesIO(loss_curve_png(steps))).convert("RGB"))
        return bool((np.abs(img.astype(int) - (255, 127, 14)).sum(axis=2) < 30).any())

    train_only = [{"step": s, "loss": 3.0 - 0.1 * s} for s in range(1, 10)]
    assert not has_val_colour(train_only)  # no val loss: no val entry in the legend either
    assert has_val_colour([*train_only, {"step": 9, "eval_loss": 2.5}])
