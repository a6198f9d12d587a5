"""The model side (no Prefect): loading VLMs, the tiny offline model, collator, LoRA, training, generation."""
