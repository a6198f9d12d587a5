"""Prompt templates for the conversations: varied wording, chosen per sample by a seeded hash (so
a sample's prompt does not depend on build order), `<image>` first as LLaVA-style trainers expect."""

from __future__ import annotations

import hashlib

IMAGE_TOKEN = "<image>"

VIEW_PROMPTS = (
    "This is the {view} view of a mechanical part. Write the construction sequence that builds it.",
    "Reconstruct the CAD model shown in this {view} view as a sketch-and-extrude sequence.",
    "Here is an orthographic {view} view of a part. Give its CAD construction sequence.",
    "Generate the sketch and extrude commands that produce the part seen in this {view} view.",
    "Which sequence of sketches and extrusions builds the solid in this {view} view? Answer with the sequence.",
    "Write the construction sequence of this part ({view} view, orthographic projection).",
)
TILE_PROMPTS = (
    "These are the {views} views of a mechanical part (third-angle layout). Write the construction sequence that builds it.",
    "Reconstruct the CAD model shown in these orthographic views ({views}) as a sketch-and-extrude sequence.",
    "Here are {views} views of one part. Give its CAD construction sequence.",
    "Generate the sketch and extrude commands that produce the part drawn in these {views} views.",
)
CADQUERY_SUFFIX = " Answer with CadQuery Python code."


def choose(seed: int, sample_id: str, n: int) -> int:
    """A template index for a sample: a hash of (seed, sample id), independent of order."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()[:4], "big") % n


def prompt_for(sample_id: str, *, view: str | None, views: tuple[str, ...], seed: int, cadquery: bool,
               vary: bool = True) -> str:
    """The human turn of one sample, `<image>` on its own first line; `vary=False` always uses the
    first template."""
    if view is not None:
        text = VIEW_PROMPTS[choose(seed, sample_id, len(VIEW_PROMPTS)) if vary else 0].format(view=view)
    else:
        names = ", ".join(views[:-1]) + f" and {views[-1]}" if len(views) > 1 else views[0]
        text = TILE_PROMPTS[choose(seed, sample_id, len(TILE_PROMPTS)) if vary else 0].format(views=names)
    return f"{IMAGE_TOKEN}\n{text}{CADQUERY_SUFFIX if cadquery else ''}"
