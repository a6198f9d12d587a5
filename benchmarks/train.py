"""Training throughput: samples/s, peak memory and MFU for the CPU model (full training) and for
SmolVLM-256M- and Qwen2-VL-2B-shaped models (random weights built from their published
configurations, LoRA and full: the numbers are about speed and memory, not quality).

    python benchmarks/train.py [--batch-sizes 4,16] [--steps 6] [--model tiny|smolvlm-256m|qwen2-vl-2b|all]
                               [--peak-tflops 989] [--dataset data/datasets/synth_learn]

The CPU recipe is timed twice in one run: its sizes now and before issue 29 (`TINY_BEFORE`), with
the ratio as `tiny_cpu_speedup`; `--dataset` times real targets (default: short drawn ones). Each is
timed on batches of consecutive samples ("in order") and on batches grouped by length as the recipe
trains (`group_by_length`: "by length", `tiny_cpu_speedup_by_length`).

On CUDA, bf16 where supported; on a CPU, bf16 autocast where it has bf16 instructions, and fewer
steps. MFU = 6 x parameters x tokens per second / the device's peak (`--peak-tflops`, default 989:
H100/H200 dense bf16; LoRA counts 4 x instead of 6 x, no weight gradients); tokens are those the
samples hold (attention mask), not padding. The shaped models run each mode with gradient
checkpointing on (the trainable layers only: `vlm.checkpointing`) and off. Peak memory per run.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMOLVLM_256M = {
    # HuggingFaceTB/SmolVLM-256M-Instruct: SmolLM2-135M-sized text model, SigLIP-base/16 at 512 px
    "text": {"model_type": "llama", "vocab_size": 49280, "hidden_size": 576, "intermediate_size": 1536,
             "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
             "max_position_embeddings": 8192, "rope_theta": 100000.0, "tie_word_embeddings": True},
    "vision": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
               "image_size": 512, "patch_size": 16},
    "scale_factor": 4,
}


def build_smolvlm_shaped(out: Path, texts: list[str]) -> Path:
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration
    from transformers.models.idefics3 import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    from vlm.tiny import CHAT_TEMPLATE, train_tokenizer

    tok = train_tokenizer(texts)
    c = SMOLVLM_256M
    seq = (c["vision"]["image_size"] // c["vision"]["patch_size"]) ** 2 // c["scale_factor"] ** 2
    ip = Idefics3ImageProcessorPil(do_resize=True, size={"longest_edge": 512}, max_image_size={"longest_edge": 512},
                                   do_image_splitting=False)
    proc = Idefics3Processor(image_processor=ip, tokenizer=tok, image_seq_len=seq, chat_template=CHAT_TEMPLATE)
    cfg = Idefics3Config(vision_config=c["vision"],
                         text_config={**c["text"], "pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id,
                                      "eos_token_id": tok.eos_token_id},
                         scale_factor=c["scale_factor"], image_token_id=tok.convert_tokens_to_ids("<image>"),
                         pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    Idefics3ForConditionalGeneration(cfg).save_pretrained(out)
    proc.save_pretrained(out)
    return out


TINY_BEFORE = {"image_size": 256, "hidden": 256, "heads": 4}
"""The CPU recipe's sizes before issue 29 (256 px tile, 64 image tokens, a 256-wide language model)."""


TINY_STEPS = 20
"""Steps timed for the CPU model (a step is ~0.15 s; five left the machine's noise in the number)."""
GROUPED_POOL = 1024
"""Train samples the length-grouped batches are drawn from."""


def by_length(samples: list, batch_size: int, seed: int) -> list:
    """`samples` in the order a recipe with `group_by_length` trains on them (`vlm.sampling.length_grouped`),
    so consecutive batches hold samples of about the same length and carry little padding."""
    from vlm.sampling import length_grouped

    return [samples[i] for i in length_grouped(batch_size, samples, seed)]


def measure(model_dir: Path, samples, batch_size: int, steps: int, modules: tuple[str, ...], mode: str = "lora",
            peak_tflops: float = 989.0, image_size: int | None = None, checkpointing: bool = False) -> dict:
    import contextlib

    import torch

    from vlm.collate import Collator
    from vlm.devices import select_device
    from vlm.loading import load_model
    from vlm.modes import TrainMode, apply_mode

    choice = select_device()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(choice.precision, torch.float32)
    lora = mode == "lora"
    model, proc = load_model(model_dir, dtype=dtype if lora and choice.device == "cuda" else torch.float32)
    if image_size:
        from vlm.loading import apply_image_budget

        apply_image_budget(proc, longest_edge=image_size, splitting=False)
    model = apply_mode(model, TrainMode(mode), lora={"r": 16, "alpha": 32, "dropout": 0.0, "modules": modules})
    model = model.to(choice.device)
    layers = checkpointing_on(model) if checkpointing else []  # the trainable layers only (vlm.checkpointing)
    autocast = (torch.autocast(choice.device, dtype=dtype) if dtype != torch.float32 and not (lora and choice.device == "cuda")
                else contextlib.nullcontext())
    from vlm.optimizer import adamw

    opt = adamw(model, 1e-4, 0.0, device=choice.device)  # the runs' own optimizer (fused where it can be)
    collate = Collator(proc)
    if choice.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, tokens = [], 0
    for step in range(steps + 1):  # the first step warms up and is not timed
        batch = collate([samples[(step * batch_size + i) % len(samples)] for i in range(batch_size)])
        batch = {k: v.to(choice.device) for k, v in batch.items()}
        if "pixel_values" in batch and dtype != torch.float32:
            batch["pixel_values"] = batch["pixel_values"].to(dtype)
        t = time.perf_counter()
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if choice.device == "cuda":
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - t)
            tokens += int(batch["attention_mask"].sum())
    total = sum(p.numel() for p in model.parameters())
    seq_len = int(batch["input_ids"].shape[1])
    per_s = batch_size * len(times) / sum(times)
    tokens_per_s = tokens / sum(times)
    out = {"device": choice.device, "precision": choice.precision, "mode": mode, "batch_size": batch_size,
           "checkpointing": checkpointing, "checkpointed_layers": len(layers),
           "steps": steps, "samples_per_second": round(per_s, 3), "tokens_per_second": round(tokens_per_s, 1),
           "seq_len": seq_len,
           "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad), "total_params": total}
    if choice.device == "cuda":  # on the tokens the samples hold (padding is not useful work)
        out["mfu"] = round((4 if lora else 6) * total * tokens_per_s / (peak_tflops * 1e12), 4)
    if choice.device == "cuda":
        out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    else:
        import resource

        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def checkpointing_on(model) -> list[str]:
    from vlm import checkpointing

    return checkpointing.enable(model)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-sizes", default=None, help="default: 4,16 on a GPU, 4 on a CPU")
    ap.add_argument("--steps", type=int, default=None, help="default: 10 on a GPU, 3 on a CPU")
    ap.add_argument("--model", choices=("tiny", "smolvlm-256m", "qwen2-vl-2b", "all"), default="all")
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="the device's dense bf16 peak, for MFU")
    ap.add_argument("--dataset", help="a built dataset folder whose train samples to time (default: a few drawn "
                    "shapes with short targets); e.g. data/datasets/synth_learn")
    args = ap.parse_args()
    import torch

    gpu = torch.cuda.is_available()
    sizes = [int(x) for x in (args.batch_sizes or ("4,16" if gpu else "4")).split(",")]
    steps = args.steps or (10 if gpu else 3)
    from tests.vlm.conftest import make_dataset
    from vlm.collate import sample_from_llava
    from vlm.families import QWEN2_VL_2B, build_qwen_vl
    from vlm.tiny import TinyShape, build_tiny

    tmp = Path(tempfile.mkdtemp(prefix="cadrecon-train-bench-"))
    data = Path(args.dataset) if args.dataset else make_dataset(tmp / "data", n_train=32, n_val=0)
    records = json.loads((data / "train.json").read_text())
    samples = [sample_from_llava(r, data) for r in records[:64]]
    pool = [sample_from_llava(r, data) for r in records[:GROUPED_POOL]]
    texts = [t["value"] for r in records[:64] for t in r["conversations"]]
    results = {"cpu_count": os.cpu_count(), "gpu": torch.cuda.get_device_name(0) if gpu else None, "runs": []}
    attention = ("q_proj", "k_proj", "v_proj", "o_proj")
    peak = args.peak_tflops
    if args.model in ("tiny", "all"):
        from config.recipes import load_recipe

        recipe = load_recipe("tiny_cpu")
        for name, shape in (("tiny_cpu", TinyShape(**recipe.tiny.model_dump())),
                            ("tiny_cpu_before", TinyShape(**{**recipe.tiny.model_dump(), **TINY_BEFORE}))):
            tiny = build_tiny(texts, tmp / name, shape)
            for b in sizes:
                for batching, these in (("in order", samples), ("by length", by_length(pool, b, recipe.seed))):
                    results["runs"].append({"model": name, "image_size": shape.image_size, "hidden": shape.hidden,
                                            "batching": batching,
                                            **measure(tiny, these, b, max(steps, TINY_STEPS), attention, "full", peak,
                                                      image_size=shape.image_size)})
        for batching in ("in order", "by length"):
            now, before = (next(r for r in results["runs"] if r["model"] == m and r["batching"] == batching)
                           for m in ("tiny_cpu", "tiny_cpu_before"))
            key = "tiny_cpu_speedup" + ("" if batching == "in order" else "_by_length")
            results[key] = round(now["samples_per_second"] / before["samples_per_second"], 2)
    shaped = []
    if args.model in ("smolvlm-256m", "all"):
        shaped.append(("smolvlm-256m-shaped", build_smolvlm_shaped(tmp / "smolvlm", texts)))
    if args.model in ("qwen2-vl-2b", "all"):  # stands in for the pretrained model: LoRA's cost is the question
        shaped.append(("qwen2-vl-2b-shaped", build_qwen_vl(texts, tmp / "qwen2vl", sizes=QWEN2_VL_2B,
                                                            min_pixels=78400, max_pixels=78400, mark_random=False)))
    for name, folder in shaped:  # each mode with checkpointing (as the recipes set it before auto) and without
        for mode in ("lora", "full"):
            for b in sizes:
                for ckpt in (True, False):
                    results["runs"].append({"model": name, **measure(folder, samples, b, steps, attention, mode, peak,
                                                                     checkpointing=ckpt)})
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
