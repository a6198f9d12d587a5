"""Prefect artifacts updated in place: one per key for the life of a run.

`create_*_artifact` with a key makes a new version each call, so a live table or curve published
every epoch would fill the run's Artifacts tab with copies. Here the first put creates the artifact
and later puts PATCH it (the key's latest version, which the UI and the REST API read, follows).
"""

from __future__ import annotations

import base64
from uuid import UUID

from prefect.artifacts import (
    TableArtifact,
    create_image_artifact,
    create_table_artifact,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate


class InPlaceArtifacts:
    """Table and image artifacts of one run, by key."""

    def __init__(self) -> None:
        self._ids: dict[str, UUID] = {}

    def table(self, key: str, rows: list[dict], description: str) -> None:
        if key not in self._ids:
            self._ids[key] = create_table_artifact(rows, key=key, description=description, _sync=True)
        else:
            self._update(key, TableArtifact(table=rows).format(_sync=True), description)

    def image(self, key: str, png: bytes, description: str) -> None:
        url = "data:image/png;base64," + base64.b64encode(png).decode()
        if key not in self._ids:
            self._ids[key] = create_image_artifact(image_url=url, key=key, description=description, _sync=True)
        else:
            self._update(key, url, description)  # an image artifact's data is its URL

    def _update(self, key: str, data: str, description: str) -> None:
        with get_client(sync_client=True) as client:
            client.update_artifact(self._ids[key], ArtifactUpdate(data=data, description=description))
