"""A tiny Idefics3 model (the architecture of HuggingFaceTB/SmolVLM-256M-Instruct), built from
config with a byte-level BPE tokenizer trained on a dataset's own text: fully offline, for tests,
the demo and CPU convergence runs. Saved with `save_pretrained`; loads back through
`AutoModelForImageTextToText` / `AutoProcessor` like any hub model.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ("<|endoftext|>", "<pad>", "<|im_start|>", "<end_of_utterance>", "<image>",
                  "<fake_token_around_image>", "<global-img>")

CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
"""SmolVLM's chat template."""


def train_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on `texts`, with the special tokens Idefics3 uses."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<end_of_utterance>",
                                   pad_token="<pad>", additional_special_tokens=list(SPECIAL_TOKENS[2:]))
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny(
    texts: Iterable[str],
    out_dir: str | Path,
    *,
    image_size: int = 64,
    patch_size: int = 16,
    hidden: int = 128,
    layers: int = 2,
    vocab_size: int = 512,
    seed: int = 0,
) -> Path:
    """Builds, saves and returns the folder of a tiny Idefics3 model and its processor.

    Args:
        texts: the text to train the tokenizer on (a dataset's prompts and targets).
        image_size: the side images are resized to (one image token block per image, no tiling).
    """
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration
    from transformers.models.idefics3 import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size)
    scale = 2
    image_seq_len = (image_size // patch_size) ** 2 // scale**2
    image_processor = Idefics3ImageProcessorPil(do_resize=True, size={"longest_edge": image_size},
                                                max_image_size={"longest_edge": image_size}, do_image_splitting=False)
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=image_seq_len,
                                  chat_template=CHAT_TEMPLATE)
    config = Idefics3Config(
        vision_config={"hidden_size": hidden // 2, "intermediate_size": hidden, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": image_size, "patch_size": patch_size},
        text_config={"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": hidden,
                     "intermediate_size": 2 * hidden, "num_hidden_layers": layers, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "max_position_embeddings": 4096,
                     "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id, "tie_word_embeddings": True,
                     # Wide initial weights: the base stays frozen under LoRA, and with the usual
                     # 0.02 its random output head cannot express a confident prediction at all.
                     "initializer_range": 0.2},
        scale_factor=scale,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return out_dir
