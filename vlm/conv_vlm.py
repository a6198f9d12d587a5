"""Idefics3 with a convolutional vision tower: the CPU model trained from scratch.

A vision transformer learns to see from a few thousand images slowly: in ten CPU minutes a small
Idefics3 learned the language of construction sequences and wrote the same answer for every part
(benchmarks/learn.py, docs/training.md). Convolutions carry the prior a ViT has to learn (locality, translation
equivariance), so a small CNN learns edges, holes and steps from the same images in far fewer steps.

Everything else is Idefics3's: the connector (pixel shuffle + projection), the Llama language model,
generation with its cache, and the processor (`Idefics3Processor`, unchanged: the tower turns each
`patch_size` x `patch_size` cell into one feature, as the ViT's patches do). The architecture is
registered with transformers' Auto classes (model type `cadrecon_conv_idefics3`) when this module is
imported (`vlm.loading` does), so a saved folder loads through `AutoModelForImageTextToText` /
`AutoProcessor` like any hub model.

Where cadrecon is not installed, a saved folder still loads: `save_pretrained` copies this file into
it and writes the config's `auto_map` (transformers' custom-code convention), so plain
`AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True)` builds the model from
the copy. The file therefore imports nothing but torch and transformers.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForImageTextToText,
    AutoProcessor,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
)
from transformers.modeling_outputs import BaseModelOutput
from transformers.models.idefics3 import Idefics3Processor

MODEL_TYPE = "cadrecon_conv_idefics3"


class ConvIdefics3Config(Idefics3Config):
    model_type = MODEL_TYPE


class _Residual(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(1, width), nn.GELU(),
                                  nn.Conv2d(width, width, 3, padding=1), nn.GroupNorm(1, width))
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class ConvVisionTower(nn.Module):
    """log2(patch_size) stride-2 stages (conv, norm, GELU, a residual block), widths doubling up to
    `hidden_size`; the last feature map is flattened into (image_size / patch_size)^2 tokens with
    learned positions, as Idefics3's ViT hands them to the connector."""

    def __init__(self, vision_config) -> None:
        super().__init__()
        width, patch = vision_config.hidden_size, vision_config.patch_size
        stages = int(round(math.log2(patch)))
        if 2**stages != patch:
            raise ValueError(f"the convolutional tower needs a power-of-two patch_size, got {patch}")
        widths = [max(16, width // 2 ** (stages - 1 - i)) for i in range(stages)]
        layers, c_in = [], vision_config.num_channels
        for w in widths:
            layers += [nn.Conv2d(c_in, w, 3, stride=2, padding=1), nn.GroupNorm(1, w), nn.GELU(), _Residual(w)]
            c_in = w
        self.stages = nn.Sequential(*layers)
        self.side = vision_config.image_size // patch
        self.position = nn.Parameter(torch.zeros(1, self.side * self.side, width))
        self.norm = nn.LayerNorm(width)

    def forward(self, pixel_values: torch.Tensor, patch_attention_mask=None, **kwargs) -> BaseModelOutput:
        x = self.stages(pixel_values.to(self.position.dtype))
        b, c, h, w = x.shape
        pos: torch.Tensor = self.position
        if (h, w) != (self.side, self.side):  # another image size than the config's: resample positions
            grid = pos.reshape(1, self.side, self.side, c).permute(0, 3, 1, 2)
            pos = nn.functional.interpolate(grid, size=(h, w), mode="bilinear").permute(0, 2, 3, 1).reshape(1, h * w, c)
        return BaseModelOutput(last_hidden_state=self.norm(x.flatten(2).transpose(1, 2) + pos))


class ConvIdefics3ForConditionalGeneration(Idefics3ForConditionalGeneration):
    config_class = ConvIdefics3Config
    config: ConvIdefics3Config

    def __init__(self, config: ConvIdefics3Config) -> None:
        super().__init__(config)
        self.model.vision_model = ConvVisionTower(config.vision_config)


# What save_pretrained needs to copy this file and write `auto_map` into the saved config.
ConvIdefics3Config.register_for_auto_class()
ConvIdefics3ForConditionalGeneration.register_for_auto_class("AutoModelForImageTextToText")


def register() -> None:
    """Makes the architecture known to transformers' Auto classes (idempotent)."""
    try:
        AutoConfig.register(MODEL_TYPE, ConvIdefics3Config)
    except ValueError:
        return  # already registered in this process
    AutoModelForImageTextToText.register(ConvIdefics3Config, ConvIdefics3ForConditionalGeneration)
    AutoProcessor.register(ConvIdefics3Config, Idefics3Processor)


register()
