"""A small Idefics3 model (the architecture of HuggingFaceTB/SmolVLM-256M-Instruct), built from
config with a byte-level BPE tokenizer trained on a dataset's own text: fully offline, for tests,
the demo and CPU training from scratch. Saved with `save_pretrained`; loads back through
`AutoModelForImageTextToText` / `AutoProcessor` like any hub model.

Its weights are random: it has nothing for LoRA to adapt, so it trains in `full` mode (every
weight). The folder carries `INIT_FILE`, which `vlm.train` reads to refuse LoRA on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cadlib.vocabulary import TinyVision

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

INIT_FILE = "cadrecon_init.json"
"""Written beside the weights of a model built from config: {"weights": "random", ...}."""

NUMBER_LIMIT = 1024
"""Every whole number below this is one token (" 128"): the sequence text's numbers (0..2^(bits+1)-1
at 8 and 9 bits) are then single symbols, as DeepCAD's 256-way parameter classes are. Larger
numbers (16-bit text) are written in BPE pieces."""


@dataclass(frozen=True, slots=True)
class TinyShape:
    """The sizes of a model built from config (see config/training/tiny_cpu.yaml for the measured choice).

    The image is resized to `image_size` (one block, no tiling); the vision tower cuts it into
    `patch_size` patches and the connector merges `scale`x`scale` of them into one image token, so
    the language model sees (image_size / patch_size / scale)^2 image tokens.
    """

    image_size: int = 256
    patch_size: int = 16
    scale: int = 2
    vision_hidden: int = 128
    vision_layers: int = 2
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    mlp_ratio: int = 4
    """The language model's MLP width over `hidden`."""
    vocab_size: int = 1536
    initializer_range: float = 0.02
    vision: str = TinyVision.CONV
    """"conv": a convolutional tower (`vlm.conv_vlm`, the measured choice for training from
    scratch); "vit": Idefics3's own vision transformer."""

    @property
    def image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2 // self.scale**2

    def check(self) -> None:
        if self.vision not in tuple(TinyVision):
            raise ValueError(f"vision must be one of {', '.join(map(repr, map(str, TinyVision)))}, got {str(self.vision)!r}")
        side = self.image_size // self.patch_size
        if self.image_size % self.patch_size or side % self.scale:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size} "
                             f"times scale {self.scale}")
        if self.hidden % self.heads or self.vision_hidden % 64 and self.vision_hidden % 32:
            raise ValueError(f"hidden {self.hidden} must divide into {self.heads} heads, vision_hidden "
                             f"{self.vision_hidden} into heads of 32 or 64")


WORD_PATTERN = r"""'(?:[sdmt]|ll|ve|re)|[ \n]?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
"""GPT-2's pre-tokenizer pattern, but a line break joins the word after it: a sequence text's lines
("\nline 254 0") cost a token less each (a fifth of a target's tokens), numbers stay one token."""


TOKENIZER_VERSION = 2
"""Bumped when `train_tokenizer` makes other tokens from the same texts (2: role words and repeated
prompts one token each), so a model folder named by `shape_key` is built again."""

ROLE_WORDS = ("User:", "Assistant:")
"""The words Idefics3's chat template writes before each turn, one token each (they are not in a
dataset's text: spelt in bytes they cost 11 tokens a sample)."""

PHRASE_MIN_COUNT = 8
"""A prompt that opens at least this many of the texts (and 1% of them) becomes one token."""


def frequent_phrases(texts: list[str], min_count: int = PHRASE_MIN_COUNT) -> list[str]:
    """The prompts a dataset repeats (the human turns' wordings, `<image>` lines removed), most
    frequent first: each becomes one token, so a fixed prompt costs the model one position instead of
    ~30 (a fifth of a CPU sample's tokens) and the wordings stay distinct symbols. Targets never
    repeat this often; a prompt worded only once stays in ordinary pieces."""
    from collections import Counter

    counts = Counter(t.replace("<image>", "").strip() for t in texts if t.startswith("<image>"))
    floor = max(min_count, len(texts) // 100)
    return [t for t, n in counts.most_common() if n >= floor and t]


def _number_corpus(limit: int) -> list[str]:
    # Repeated so that BPE ranks every number's merges above rarer word pieces.
    line = "".join(f" {i}" for i in range(limit))  # " 0" too: numbers follow a space in the text
    return [line] * 8


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1536, *, number_limit: int = NUMBER_LIMIT,
                    special: tuple[str, ...] = SPECIAL_TOKENS, roles: dict | None = None,
                    chat_template: str = CHAT_TEMPLATE, role_words: tuple[str, ...] = ROLE_WORDS):
    """A byte-level BPE tokenizer trained on `texts`, with a family's special tokens (Idefics3's by
    default), its `roles` (bos/eos/pad token names), chat template and the words that template writes
    (`role_words`, one token each), every number below `number_limit` as one token and each of the
    texts' `frequent_phrases` (their repeated prompts) as one token. Special tokens not named in
    `roles` become additional ones.

    Raises:
        ValueError: when `vocab_size` is too small to hold every number as one token.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    roles = roles or {"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "pad_token": "<pad>"}
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = list(texts)
    tok.train_from_iterator([*texts, *_number_corpus(number_limit)], trainer)
    others = [t for t in special if t not in roles.values() and t != SPECIAL_TOKENS[0]]
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **roles, additional_special_tokens=others)
    fast.add_tokens([*role_words, *frequent_phrases(texts)])
    fast.chat_template = chat_template
    split = [n for n in range(number_limit) if len(fast.encode(f" {n}", add_special_tokens=False)) != 1]
    if split:
        raise ValueError(f"a {vocab_size}-token vocabulary leaves {len(split)} numbers in pieces (e.g. {split[:3]}); "
                         "raise vocab_size")
    return fast


def build_tiny(texts: Iterable[str], out_dir: str | Path, shape: TinyShape | None = None, *, seed: int = 0) -> Path:
    """Builds, saves and returns the folder of a small Idefics3 model and its processor, with random
    weights (marked in `INIT_FILE`).

    Args:
        texts: the text to train the tokenizer on (a dataset's prompts and targets).
        shape: the model's sizes (default `TinyShape()`).
    """
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration
    from transformers.models.idefics3 import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    shape = shape or TinyShape()
    shape.check()
    texts = list(texts)
    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(texts, max(shape.vocab_size, NUMBER_LIMIT + 512))
    image_processor = Idefics3ImageProcessorPil(do_resize=True, size={"longest_edge": shape.image_size},
                                                max_image_size={"longest_edge": shape.image_size},
                                                do_image_splitting=False)
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                                  image_seq_len=shape.image_tokens, chat_template=CHAT_TEMPLATE)
    config_cls: Any = Idefics3Config
    model_cls: Any = Idefics3ForConditionalGeneration
    if shape.vision == TinyVision.CONV:
        from vlm.conv_vlm import ConvIdefics3Config, ConvIdefics3ForConditionalGeneration

        config_cls, model_cls = ConvIdefics3Config, ConvIdefics3ForConditionalGeneration
    config = config_cls(
        vision_config={"hidden_size": shape.vision_hidden, "intermediate_size": 4 * shape.vision_hidden,
                       "num_hidden_layers": shape.vision_layers,
                       "num_attention_heads": max(1, shape.vision_hidden // 64) if shape.vision_hidden % 64 == 0
                       else shape.vision_hidden // 32,
                       "image_size": shape.image_size, "patch_size": shape.patch_size,
                       "initializer_range": shape.initializer_range},
        text_config={"model_type": "llama", "vocab_size": len(tokenizer), "hidden_size": shape.hidden,
                     "intermediate_size": shape.mlp_ratio * shape.hidden, "num_hidden_layers": shape.layers,
                     "num_attention_heads": shape.heads, "num_key_value_heads": shape.heads,
                     "max_position_embeddings": 4096, "pad_token_id": tokenizer.pad_token_id,
                     "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                     "tie_word_embeddings": True, "initializer_range": shape.initializer_range},
        scale_factor=shape.scale,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = model_cls(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    (out_dir / INIT_FILE).write_text(json.dumps({"weights": "random", "built_by": "vlm.tiny.build_tiny",
                                                 "seed": seed, "shape": asdict(shape)}, indent=1))
    return out_dir


def shape_key(shape: TinyShape) -> str:
    """A short name for a shape (model folders built for different shapes do not collide)."""
    import hashlib

    key = {**asdict(shape), "tokenizer": TOKENIZER_VERSION}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]


def is_random_init(model_dir: str | Path) -> bool:
    """True for a folder whose weights were built from config and never trained."""
    path = Path(model_dir) / INIT_FILE
    return path.is_file() and json.loads(path.read_text()).get("weights") == "random"
