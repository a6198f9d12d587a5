"""A model cadrecon builds and saves loads with plain transformers where cadrecon is not importable
(`auto_map` and the modeling file in the folder, `trust_remote_code=True`), and computes what
cadrecon's own loading computes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Run in a fresh interpreter from an empty folder, with no path to the project: only what the model
# folder holds can define the architecture.
PLAIN_LOAD = r"""
import json, sys
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

folder, image = sys.argv[1], sys.argv[2]
model = AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
ours = sorted({m.split(".")[0] for m in sys.modules} & {"vlm", "cadlib", "config", "tasks", "flows"})
messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Write the sequence."}]}]
text = processor.apply_chat_template(messages, add_generation_prompt=True)
batch = processor(text=[text], images=[[Image.open(image).convert("RGB")]], return_tensors="pt")
with torch.no_grad():
    logits = model(**batch).logits[0, -1]
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
print(json.dumps({"class": type(model).__name__, "module": type(model).__module__, "imported": ours,
                  "logits": logits.tolist(), "new_tokens": out.shape[1] - batch["input_ids"].shape[1]}))
"""


def test_a_saved_tiny_model_loads_without_cadrecon(tiny_model: Path, tiny_dataset: Path, tmp_path: Path):
    import torch
    from PIL import Image

    from vlm.loading import load_model

    config = json.loads((tiny_model / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageTextToText"] == "conv_vlm.ConvIdefics3ForConditionalGeneration"
    assert (tiny_model / "conv_vlm.py").is_file()

    image = tiny_dataset / "images" / "val_0_front.png"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", PLAIN_LOAD, str(tiny_model), str(image)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    plain = json.loads(run.stdout.strip().splitlines()[-1])
    assert plain["imported"] == [], f"loading imported cadrecon's own modules: {plain['imported']}"
    assert plain["class"] == "ConvIdefics3ForConditionalGeneration"
    assert plain["module"].startswith("transformers_modules."), plain["module"]  # built from the folder's copy
    assert plain["new_tokens"] >= 1

    model, processor = load_model(tiny_model)
    model.eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Write the sequence."}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    batch = processor(text=[text], images=[[Image.open(image).convert("RGB")]], return_tensors="pt")
    with torch.no_grad():
        ours = model(**batch).logits[0, -1]
    assert torch.allclose(ours, torch.tensor(plain["logits"]), atol=1e-4), "the two loads compute different models"
