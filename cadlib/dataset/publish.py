"""Publishing a dataset to the Hugging Face Hub: the card (with its Hub YAML), the Parquet splits
(images embedded) and the dataset's own metadata, as one commit through `huggingface_hub`.

The LLaVA JSON / JSONL files and `images/` go too with `raw_files=True`; the Hub advises under
10,000 files per folder, so a large dataset is refused that way rather than half uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from cadlib.dataset.layout import SPLITS, DatasetLayout

HUB_FOLDER_LIMIT = 10_000


class PushFailed(ValueError):
    """The Hub (or the network on the way) refused the push: one line naming the repo and the cause."""


@dataclass(frozen=True, slots=True)
class PushResult:
    repo_id: str
    url: str
    files: list[str]


def files_to_push(layout: DatasetLayout, *, raw_files: bool = False) -> list[str]:
    """The paths (relative to the dataset) a push uploads.

    Raises:
        ValueError: naming the dataset when it is not finished (no card or no Parquet split), or when
            `raw_files` would put more than HUB_FOLDER_LIMIT files in images/.
    """
    root = layout.root
    parquet = [f"{s}.parquet" for s in SPLITS if layout.split_file(s, "parquet").is_file()]
    if not layout.card.is_file() or not parquet:
        raise ValueError(f"{root}: not a finished dataset (no README.md card or no <split>.parquet); "
                         "run `cadrecon dataset build` to finish it")
    names = ["README.md", *parquet]
    names += [p.name for p in (layout.info, layout.validation, layout.contact_sheet) if p.is_file()]
    if raw_files:
        images = sorted(p.relative_to(root).as_posix() for p in layout.images.glob("*.png"))
        if len(images) > HUB_FOLDER_LIMIT:
            raise ValueError(f"{layout.images}: {len(images)} images, over the Hub's {HUB_FOLDER_LIMIT} files per "
                             "folder; push without --raw-files (the Parquet files embed the images)")
        names += [f"{s}.{ext}" for s in SPLITS for ext in ("json", "jsonl") if layout.split_file(s, ext).is_file()]
        names += [layout.registry.name] + images
    return names


def push(layout: DatasetLayout, repo_id: str, *, token: str | None = None, private: bool = False,
         raw_files: bool = False, revision: str | None = None) -> PushResult:
    """Creates the dataset repo if needed and uploads the dataset's files in one commit.

    Raises:
        PushFailed: when the Hub answers with an error or cannot be reached (nothing is committed).
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import (
        HTTPError,  # the HTTP client's base error, whichever client the Hub uses
    )

    names = files_to_push(layout, raw_files=raw_files)
    api = HfApi(token=token)
    try:
        repo = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=n, path_or_fileobj=str(layout.root / n)) for n in names]
        api.create_commit(repo_id=repo.repo_id, repo_type="dataset", operations=operations, revision=revision,
                          commit_message=f"cadrecon: {layout.root.name} ({len(names)} files)")
    except (HTTPError, OSError, ValueError) as exc:  # HfHubHTTPError is both; ValueError: a card the Hub refuses
        cause = " ".join(str(exc).split())
        raise PushFailed(f"{layout.root}: push to {repo_id} failed: {cause[:300]}") from None
    return PushResult(repo_id=repo.repo_id, url=str(repo), files=names)
