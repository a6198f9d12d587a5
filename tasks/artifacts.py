"""Every Prefect artifact cadrecon publishes: its key, and how each kind is made.

A key is `<run key>-<suffix>`: the run key a slug of what the run works on (the dataset's name, or
`train-<dataset>-<recipe>-<mode>`), the suffix one of `Suffix`. The REST API finds a run's
artifacts by these suffixes (`deployments.views`), so both sides import them from here. Flows and
tasks both publish (a training task updates its curve every epoch), hence this module sits under
both.

`create_*_artifact` with a key makes a new version each call, so a live table or curve published
every epoch would fill the run's Artifacts tab with copies: `InPlaceArtifacts` creates on the
first put and PATCHes after (the key's latest version, which the UI and the API read, follows).
"""

from __future__ import annotations

import base64
import contextlib
import re
import time
from enum import StrEnum
from uuid import UUID

from prefect.artifacts import (
    TableArtifact,
    create_image_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate


class Suffix(StrEnum):
    """What an artifact shows; the last part of its key. A build's stage tables end in the
    stage's name (`extract`, `render`, ...)."""

    STAGES = "stages"  # one table of the stages a build read back from disk
    FAILURES = "failures"
    PROGRESS = "progress"
    SUMMARY = "summary"
    REPORT = "report"
    EPOCHS = "epochs"
    LOSS_CURVE = "loss-curve"
    IOU_CURVE = "iou-curve"
    CONTACT_SHEET = "contact-sheet"
    VIEWS = "views"


def slug(text: str) -> str:
    """`text` as Prefect accepts in a key: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "run"


def key(run: str, *parts: str) -> str:
    """The artifact key of `parts` (suffixes, a stage name) in the run keyed `run`."""
    return "-".join([slug(run), *parts])


def png_url(png: bytes) -> str:
    """An image artifact's URL for PNG bytes (the UI shows data URLs inline)."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def table(key: str, rows: list[dict], description: str) -> UUID:
    return create_table_artifact(rows, key=key, description=description, _sync=True)


def markdown(key: str, text: str, description: str) -> UUID:
    return create_markdown_artifact(text, key=key, description=description, _sync=True)


def image(key: str, png: bytes, description: str) -> UUID:
    return create_image_artifact(image_url=png_url(png), key=key, description=description, _sync=True)


class InPlaceArtifacts:
    """Table and image artifacts of one run, by key, each one artifact for the life of the run."""

    def __init__(self) -> None:
        self._ids: dict[str, UUID] = {}

    def table(self, key: str, rows: list[dict], description: str) -> None:
        if key not in self._ids:
            self._ids[key] = table(key, rows, description)
        else:
            self._update(key, TableArtifact(table=rows).format(_sync=True), description)

    def image(self, key: str, png: bytes, description: str) -> None:
        if key not in self._ids:
            self._ids[key] = image(key, png, description)
        else:
            self._update(key, png_url(png), description)  # an image artifact's data is its URL

    def _update(self, key: str, data: str, description: str) -> None:
        with get_client(sync_client=True) as client:
            client.update_artifact(self._ids[key], ArtifactUpdate(data=data, description=description))


class ProgressArtifacts:
    """One progress artifact per stage of a run (`<run>-<stage>-progress`), created on the first
    model done (a cached run makes none) and updated at most once a second; a listener of
    `tasks.progress`. Progress is cosmetic: a failed update never fails the run."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.ids: dict[str, UUID] = {}
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if not done or (now - self.last.get(stage, 0.0) < 1.0 and done < total):
            return
        self.last[stage] = now
        if stage not in self.ids:
            self.ids[stage] = create_progress_artifact(0.0, key=key(self.run, stage, Suffix.PROGRESS),
                                                       description=f"{self.run}: {stage}, models done", _sync=True)
        with contextlib.suppress(Exception):
            update_progress_artifact(self.ids[stage], 100.0 * done / total if total else 100.0, _sync=True)
