"""Loading a vision-language model and its processor by Hugging Face id or local folder."""

from __future__ import annotations

from pathlib import Path


def load_model(name_or_path: str | Path, *, dtype=None, local_files_only: bool | None = None):
    """`AutoModelForImageTextToText` and `AutoProcessor` for a hub id (downloaded, or read from the
    local cache with `local_files_only`) or a local folder (always offline).

    Raises:
        ValueError: naming the model and what to do when it is neither a folder nor reachable.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = Path(name_or_path)
    local = path.is_dir()
    if local_files_only is None:
        local_files_only = local
    kwargs = {"local_files_only": local_files_only}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        model = AutoModelForImageTextToText.from_pretrained(str(name_or_path), **kwargs)
        processor = AutoProcessor.from_pretrained(str(name_or_path), local_files_only=local_files_only)
    except OSError as exc:
        hint = ("it is not a folder here; with no network, download it first (huggingface-cli download "
                f"{name_or_path}) or use a local model such as `cadrecon model init-tiny`")
        raise ValueError(f"{name_or_path}: cannot load the model ({str(exc).splitlines()[0]}); {hint}") from None
    return model, processor
