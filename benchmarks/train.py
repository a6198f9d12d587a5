"""LoRA training throughput: samples/s and peak memory for the tiny offline model and for a
SmolVLM-256M-shaped Idefics3 (random weights built from its published configuration: the numbers
are about speed and memory, not quality).

    python benchmarks/train.py [--batch-sizes 4,16] [--steps 6] [--model tiny|smolvlm-256m|both]

On CUDA, bf16 where supported; on a CPU, fp32 and fewer steps. Prints one JSON object.
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

    tok = train_tokenizer(texts, 512)
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


def measure(model_dir: Path, samples, batch_size: int, steps: int, modules: tuple[str, ...]) -> dict:
    import torch

    from vlm.collate import Collator
    from vlm.devices import select_device
    from vlm.loading import load_model
    from vlm.lora import apply_lora

    choice = select_device()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(choice.precision, torch.float32)
    model, proc = load_model(model_dir, dtype=dtype)
    model = apply_lora(model, r=16, alpha=32, dropout=0.0, modules=modules).to(choice.device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    collate = Collator(proc)
    if choice.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for step in range(steps + 1):  # the first step warms up and is not timed
        batch = collate([samples[(step * batch_size + i) % len(samples)] for i in range(batch_size)])
        batch = {k: v.to(choice.device) for k, v in batch.items()}
        if "pixel_values" in batch and dtype != torch.float32:
            batch["pixel_values"] = batch["pixel_values"].to(dtype)
        t = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if choice.device == "cuda":
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - t)
    out = {"device": choice.device, "precision": choice.precision, "batch_size": batch_size, "steps": steps,
           "samples_per_second": round(batch_size * len(times) / sum(times), 3),
           "seq_len": int(batch["input_ids"].shape[1]),
           "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
           "total_params": sum(p.numel() for p in model.parameters())}
    if choice.device == "cuda":
        out["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    else:
        import resource

        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-sizes", default=None, help="default: 4,16 on a GPU, 4 on a CPU")
    ap.add_argument("--steps", type=int, default=None, help="default: 10 on a GPU, 3 on a CPU")
    ap.add_argument("--model", choices=("tiny", "smolvlm-256m", "both"), default="both")
    args = ap.parse_args()
    import torch

    gpu = torch.cuda.is_available()
    sizes = [int(x) for x in (args.batch_sizes or ("4,16" if gpu else "4")).split(",")]
    steps = args.steps or (10 if gpu else 3)
    from tests.vlm.conftest import make_dataset
    from vlm.collate import sample_from_llava
    from vlm.tiny import build_tiny

    tmp = Path(tempfile.mkdtemp(prefix="cadrecon-train-bench-"))
    data = make_dataset(tmp / "data", n_train=32, n_val=0)
    records = json.loads((data / "train.json").read_text())
    samples = [sample_from_llava(r, data) for r in records]
    texts = [t["value"] for r in records for t in r["conversations"]]
    results = {"cpu_count": os.cpu_count(), "gpu": torch.cuda.get_device_name(0) if gpu else None, "runs": []}
    if args.model in ("tiny", "both"):
        tiny = build_tiny(texts, tmp / "tiny")
        for b in sizes:
            results["runs"].append({"model": "tiny", **measure(tiny, samples, b, max(steps, 5),
                                                               ("q_proj", "k_proj", "v_proj", "o_proj"))})
    if args.model in ("smolvlm-256m", "both"):
        smol = build_smolvlm_shaped(tmp / "smolvlm", texts)
        for b in sizes:
            results["runs"].append({"model": "smolvlm-256m-shaped", **measure(smol, samples, b, steps,
                                                                              ("q_proj", "k_proj", "v_proj", "o_proj"))})
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
