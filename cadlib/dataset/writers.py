"""Writing (and streaming back) the split files and the trainer registries: LLaVA/TinyLLaVA JSON, typed-content messages
JSONL, Parquet with the images embedded, LLaMA-Factory's dataset_info.json (all atomic).

- ``<split>.json``: ``[{"id", "image", "conversations": [{"from": "human", "value": "<image>\\n..."},
  {"from": "gpt", "value": target}]}]`` (LLaVA, TinyLLaVA, LLaVA-NeXT; LLaMA-Factory's sharegpt
  format reads it through the registry below).
- ``<split>.jsonl``: ``{"id", "messages": [{"role": "user", "content": [{"type": "image"}, {"type":
  "text", "text": ...}]}, {"role": "assistant", "content": [{"type": "text", "text": target}]}],
  "images": [path]}`` per line: the form TRL's SFTTrainer and transformers chat templates read (no
  ``<image>`` in the text: the image block is the placeholder).
- ``<split>.parquet``: one row per sample, the view embedded as a ``datasets.Image`` (PNG bytes and
  its relative path), the typed ``messages``, the LLaVA ``conversations``, target, token count and
  ids; the Hugging Face features are in the schema metadata, so ``load_dataset("parquet", ...)``
  decodes ``image`` to PIL and the file pushes to the Hub as is.
- ``dataset_info.json``: LLaMA-Factory's registry, one entry per split
  (``<name>_train``...) over ``<split>.json`` with its columns and tags spelled out.

Image paths in the JSON and JSONL files are relative to the file's folder (the dataset root): the
``image_root`` to join them with is the folder that holds the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from cadlib.dataset.layout import (
    SPLITS,
    DatasetLayout,
    atomic_path,
)
from cadlib.dataset.parquet_schema import arrow_schema, to_table
from cadlib.dataset.prompts import IMAGE_TOKEN
from cadlib.dataset.reports import LlavaRecord, Message, MessagesRecord, RegistryEntry, Sample

ROWS_PER_GROUP = 100  # a Parquet row group (read one at a time) holds this many rows...
GROUP_IMAGE_BYTES = 4 << 20  # ...or fewer, where their PNGs reach this: the writer's peak is ~5x a group's PNGs


def prompt_text(prompt: str) -> str:
    """The human turn without the LLaVA `<image>` line (typed content carries an image block)."""
    return prompt.removeprefix(f"{IMAGE_TOKEN}\n").replace(IMAGE_TOKEN, "").strip()


def llava_record(s: Sample) -> LlavaRecord:
    return {
        "id": s["id"],
        "image": s["image"],
        "conversations": [{"from": "human", "value": s["prompt"]}, {"from": "gpt", "value": s["target"]}],
    }


def typed_messages(s: Sample) -> list[Message]:
    return [
        {"role": "user", "content": [{"type": "image", "text": None},
                                     {"type": "text", "text": prompt_text(s["prompt"])}]},
        {"role": "assistant", "content": [{"type": "text", "text": s["target"]}]},
    ]


def messages_record(s: Sample) -> MessagesRecord:
    """One JSONL line: typed content (the image block without a `text` key, as chat templates write it)."""
    messages = typed_messages(s)
    messages[0]["content"][0] = {"type": "image"}
    return {"id": s["id"], "messages": messages, "images": [s["image"]]}


def _parquet_row(root: Path, s: Sample) -> dict[str, Any]:
    return {
        "id": s["id"], "model_id": s["model_id"], "split": s["split"], "view": s["view"],
        "image": {"bytes": (root / s["image"]).read_bytes(), "path": s["image"]}, "image_path": s["image"],
        "messages": typed_messages(s), "conversations": llava_record(s)["conversations"],
        "prompt": s["prompt"], "target": s["target"], "tokens": s["tokens"],
    }


def write_parquet(path: Path, root: Path, samples: Iterable[Sample]) -> Path:
    """Streams the samples into `path`, one row group (ROWS_PER_GROUP rows, or GROUP_IMAGE_BYTES of
    PNGs) in memory at a time."""
    with parquet_sink(path, root) as add:
        for s in samples:
            add(s)
    return path


@contextmanager
def parquet_sink(path: Path, root: Path) -> Iterator[Callable[[Sample], None]]:
    """`write_parquet` a sample at a time: the function it yields takes the next sample; the file
    is in place when the block ends (and not at all if it raises)."""
    # Before Arrow's first import in this process: its default allocator (mimalloc) keeps ~50 MB
    # reserved after one row group, the system allocator gives it back (a 699-sample split of
    # 69 kB PNGs, 58-row groups: writer peak +76 MB -> +35 MB, measured)
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    import pyarrow as pa
    import pyarrow.parquet as pq

    batch: list[dict[str, Any]] = []
    pending = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, arrow_schema(), compression="zstd") as writer:

        def add(s: Sample) -> None:
            nonlocal batch, pending
            row = _parquet_row(root, s)
            batch.append(row)
            pending += len(row["image"]["bytes"])
            if len(batch) == ROWS_PER_GROUP or pending >= GROUP_IMAGE_BYTES:
                writer.write_table(to_table(batch))
                batch, pending = [], 0

        yield add
        if batch:
            writer.write_table(to_table(batch))
    # Where Arrow's allocator is mimalloc (pyarrow imported before the line above), it keeps the
    # batches' freed pages for reuse; the build is done with them (a 3,152-sample split: 64 MB kept,
    # 10 MB after this)
    pa.default_memory_pool().release_unused()


def llamafactory_registry(name: str, splits: Iterable[str] = SPLITS) -> dict[str, RegistryEntry]:
    """LLaMA-Factory's dataset_info.json entries for the three split files (sharegpt over the LLaVA
    JSON; every column and tag named, since its parser unsets the ones left out)."""
    return {
        f"{name}_{split}": {
            "file_name": f"{split}.json",
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "images": "image"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        }
        for split in splits
    }


def write_split(layout: DatasetLayout, split: str, samples: Iterable[Sample]) -> list[Path]:
    """The three files of one split, samples in the given order, written together in one pass
    over `samples` (a split of any size costs one record's text and a Parquet row group at a
    time, not the file's; `samples` may be a generator).

    An empty split is its LLaVA ``<split>.json`` alone (``[]``, which cadrecon and LLaVA readers take
    as no samples); its JSONL and Parquet files are not written (and removed if an earlier build left
    them): `datasets.load_dataset` fails on an empty JSONL or Parquet file, and the card's configs
    and the registry name only the splits that have samples."""
    files = [layout.split_file(split, ext) for ext in ("json", *EMPTY_SPLIT_OMITS)]
    with ExitStack() as stack:
        to_json = stack.enter_context(json_array_sink(files[0]))
        more: tuple[Callable[[MessagesRecord], None], Callable[[Sample], None]] | None = None
        for s in samples:
            if more is None:  # the first sample: the split is not empty
                more = (stack.enter_context(jsonl_sink(files[1])), stack.enter_context(parquet_sink(files[2], layout.root)))
            to_json(llava_record(s))
            more[0](messages_record(s))
            more[1](s)
    if more is None:
        for path in files[1:]:
            path.unlink(missing_ok=True)
        return files[:1]
    return files


EMPTY_SPLIT_OMITS = ("jsonl", "parquet")
"""The split files an empty split does not have."""


def write_json_array(path: Path, records: Iterable[Mapping[str, object]]) -> Path:
    """A JSON array streamed to `path` (atomically), byte for byte what
    `write_json_atomic(path, list(records))` writes: indent 1, UTF-8, a final newline."""
    with json_array_sink(path) as add:
        for rec in records:
            add(rec)
    return path


@contextmanager
def json_array_sink(path: Path) -> Iterator[Callable[[Mapping[str, Any]], None]]:
    """`write_json_array` a record at a time (the file is in place when the block ends)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        first = True

        def add(rec: Mapping[str, Any]) -> None:
            nonlocal first
            fh.write("[\n " if first else ",\n ")
            fh.write(json.dumps(rec, indent=1, ensure_ascii=False).replace("\n", "\n "))
            first = False

        yield add
        fh.write("[]\n" if first else "\n]\n")


def iter_json_array(path: Path, chunk: int = 1 << 20) -> Iterator[Any]:
    """The items of the JSON array in `path`, one at a time, as `json.load` gives them (a file of
    any size costs one item and `chunk` characters of memory, not the whole parsed array).

    Raises:
        ValueError: the file is not one JSON array (what is wrong and the character it is at).
    """
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8") as fh:
        buf, pos, offset, eof = "", 0, 0, False

        def more() -> bool:
            nonlocal buf, eof
            if eof:
                return False
            got = fh.read(chunk)
            eof = not got
            buf += got
            return bool(got)

        def skip_space() -> str:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\n\r":
                    pos += 1
                if pos < len(buf) or not more():
                    return buf[pos] if pos < len(buf) else ""

        def fail(msg: str, at: int | None = None) -> ValueError:
            return ValueError(f"{msg} at character {offset + (pos if at is None else at)}")

        if skip_space() != "[":
            raise fail("Expecting '['")
        pos += 1
        if skip_space() == "]":
            pos += 1
        else:
            while True:
                while True:
                    try:
                        item, end = decoder.raw_decode(buf, pos)
                    except json.JSONDecodeError as exc:
                        if more():
                            continue
                        raise fail(exc.msg, exc.pos) from None
                    after = buf[end:end + 64].lstrip(" \t\n\r")[:1]
                    if after in (",", "]") or not more():  # "1" of "1.5" decodes too: a separator ends it
                        break
                pos = end
                yield item
                if pos > chunk:  # drop what was read
                    buf, offset, pos = buf[pos:], offset + pos, 0
                sep = skip_space()
                pos += 1
                if sep == "]":
                    break
                if sep != ",":
                    pos -= 1
                    raise fail("Expecting ',' delimiter")
                skip_space()
        if skip_space():
            raise fail("Extra data")


def write_jsonl(path: Path, records: Iterable[Mapping[str, object]]) -> Path:
    """One JSON object per line, streamed to `path` (atomically)."""
    with jsonl_sink(path) as add:
        for rec in records:
            add(rec)
    return path


@contextmanager
def jsonl_sink(path: Path) -> Iterator[Callable[[Mapping[str, Any]], None]]:
    """`write_jsonl` a record at a time (the file is in place when the block ends)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:

        def add(rec: Mapping[str, Any]) -> None:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

        yield add
