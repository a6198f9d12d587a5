"""Loading a vision-language model and its processor by Hugging Face id or local folder."""

from __future__ import annotations

from pathlib import Path

from cadlib.vocabulary import QWEN_FAMILIES

__all__ = ["QWEN_FAMILIES", "apply_image_budget", "check_available", "load_model", "load_processor"]

HUB_TIMEOUT_S = 3.0
"""How long `check_available` waits for the Hugging Face Hub before it says it cannot be reached."""


def check_available(name_or_path: str, *, timeout: float = HUB_TIMEOUT_S) -> None:
    """Checks, before any run starts, that a base model can be loaded: a local folder, a hub id in
    the local Hugging Face cache, or a hub id the Hub answers for within `timeout` (not asked when
    HF_HUB_OFFLINE is set). `tiny` (built offline) always can.

    Raises:
        ValueError: one line naming the model, why it cannot be loaded and what to do (for an
            uncached id offline: the `hf download` command).
    """
    if name_or_path == "tiny" or Path(name_or_path).is_dir():
        return
    if name_or_path.startswith(("/", ".", "~")) or name_or_path.count("/") != 1 or "\0" in name_or_path:
        raise ValueError(f"{name_or_path!r}: no such model folder (nor a Hugging Face id of the form owner/name)")
    import huggingface_hub
    from huggingface_hub import constants

    if isinstance(huggingface_hub.try_to_load_from_cache(name_or_path, "config.json"), str):
        return
    if constants.HF_HUB_OFFLINE:
        why = "the Hub is switched off (HF_HUB_OFFLINE)"
    else:
        try:
            huggingface_hub.HfApi().model_info(name_or_path, timeout=timeout)
            return
        except huggingface_hub.errors.RepositoryNotFoundError:
            raise ValueError(f"{name_or_path}: no such model on the Hugging Face Hub") from None
        except Exception as exc:  # noqa: BLE001 - no network, DNS, a proxy, a timeout: all say the same
            why = f"the Hub cannot be reached ({type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''})"
    raise ValueError(f"{name_or_path}: not in the local Hugging Face cache and {why}; download it first with "
                     f"`hf download {name_or_path}`, or train a local model (`cadrecon model init-tiny`)")


def load_model(name_or_path: str | Path, *, dtype=None, local_files_only: bool | None = None):
    """`AutoModelForImageTextToText` and `AutoProcessor` for a hub id (downloaded, or read from the
    local cache with `local_files_only`) or a local folder (always offline).

    Raises:
        ValueError: naming the model and what to do when it is neither a folder nor reachable.
    """
    from transformers import AutoModelForImageTextToText

    import vlm.conv_vlm  # noqa: F401  (registers the convolutional Idefics3 with the Auto classes)

    path = Path(name_or_path)
    local = path.is_dir()
    if local_files_only is None:
        local_files_only = local
    # transformers 5 does not hand local_files_only on to its adapter lookup, which then retries the
    # hub for ~30 s offline before the real error: say it there too.
    kwargs = {"local_files_only": local_files_only, "adapter_kwargs": {"local_files_only": local_files_only}}
    if dtype is not None:
        kwargs["dtype"] = dtype
    try:
        model = AutoModelForImageTextToText.from_pretrained(str(name_or_path), **kwargs)
        processor = load_processor(name_or_path, model.config.model_type, local_files_only=local_files_only)
    except OSError as exc:
        hint = ("it is not a folder here; with no network, download it first (hf download "
                f"{name_or_path}) or use a local model such as `cadrecon model init-tiny`")
        raise ValueError(f"{name_or_path}: cannot load the model ({str(exc).splitlines()[0]}); {hint}") from None
    return model, processor


def load_processor(name_or_path: str | Path, model_type: str, *, local_files_only: bool = True):
    """The processor saved with a model (or adapter): `AutoProcessor`, except for the Qwen-VL
    families where torchvision is missing or their video processor cannot be built (images only:
    `vlm.families.image_only_processor`)."""
    from transformers import AutoProcessor

    from vlm.families import has_torchvision, load_image_only_processor

    if model_type in QWEN_FAMILIES and not has_torchvision():
        return load_image_only_processor(str(name_or_path), model_type, local_files_only=local_files_only)
    try:
        return AutoProcessor.from_pretrained(str(name_or_path), local_files_only=local_files_only)
    except (TypeError, ValueError, ImportError) as exc:
        # transformers 5.17 with torchvision but without a usable video processor: "Received a
        # NoneType for argument video_processor"; images are all this project feeds
        if model_type in QWEN_FAMILIES and "video" in str(exc).lower():
            return load_image_only_processor(str(name_or_path), model_type, local_files_only=local_files_only)
        raise


def apply_image_budget(processor, *, min_pixels: int | None = None, max_pixels: int | None = None,
                       longest_edge: int | None = None, splitting: bool | None = None):
    """Sets how many pixels the processor gives an image (so how many image tokens the model sees):
    `min_pixels` / `max_pixels` for Qwen2-VL-style processors, `longest_edge` and `splitting` for
    Idefics3-style ones. The processor saved after training carries it to generation.

    Raises:
        ValueError: a setting this processor's family does not have.
    """
    ip = processor.image_processor
    name = type(ip).__name__
    if min_pixels is not None or max_pixels is not None:
        if not hasattr(ip, "merge_size"):  # Qwen-VL's: pixel counts in size's shortest/longest_edge
            raise ValueError(f"{name} has no min_pixels/max_pixels; size its images with longest_edge")
        size = dict(ip.size or {})
        lo = min_pixels if min_pixels is not None else size.get("shortest_edge")
        hi = max_pixels if max_pixels is not None else size.get("longest_edge")
        ip.size = {"shortest_edge": lo, "longest_edge": hi}
    if longest_edge is not None or splitting is not None:
        if not hasattr(ip, "do_image_splitting"):
            raise ValueError(f"{name} has no longest_edge/splitting; size its images with min_pixels/max_pixels")
        if longest_edge is not None:
            ip.size = {"longest_edge": longest_edge}
            ip.max_image_size = {"longest_edge": min(longest_edge, (ip.max_image_size or {}).get("longest_edge",
                                                                                              longest_edge))}
        if splitting is not None:
            ip.do_image_splitting = splitting
    return processor
