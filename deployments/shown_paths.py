"""How server paths appear to API clients: relative to the data folder, never absolute.

Fields that name a place on the server (`output_path`, `checkpoint_dir`, a dataset's `path`, an
upload) are written with `shown` (``datasets/demo``: the same relative form requests take). Text the
API does not write itself (a run's failure message, an exception's first line) passes through
`HidePaths`, an ASGI middleware that rewrites every JSON response body: the data folder becomes
relative, other server folders (Prefect's home, the working directory, the temp folder, the home
folder) become ``<server>``.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from pathlib import Path


def shown(path: str | Path, data_dir: str | Path) -> str:
    """`path` relative to the data folder (``.`` for the folder itself); outside it, its name only."""
    root = _resolved(str(data_dir))
    p = Path(path)
    p = p if p.is_absolute() else root / p
    try:
        rel = p.resolve().relative_to(root)
    except ValueError:
        return f"<server>/{p.name}"
    return rel.as_posix() or "."


@functools.lru_cache(maxsize=64)
def _resolved(folder: str) -> Path:
    """The data folder resolved once (answers are polled: resolving walks every component)."""
    return Path(folder).resolve()


def server_roots(data_dir: str | Path) -> list[tuple[re.Pattern, str]]:
    """(a server folder as a whole path component, what a client sees instead), longest folder
    first so nested folders win; compiled once, used on every response."""
    data = Path(data_dir).resolve()
    others = {os.environ.get("PREFECT_HOME"), os.getcwd(), tempfile.gettempdir(), os.path.expanduser("~")}
    pairs = {str(data): "."}
    for root in others:
        if root and root != "/" and os.path.isabs(root):
            pairs.setdefault(str(Path(root).resolve()), "<server>")
            pairs.setdefault(root.rstrip("/"), "<server>")
    # The folder followed by '/' (consumed), or by a quote, whitespace, punctuation or the end.
    return [(re.compile(re.escape(root) + r"(?:(/)|(?=[^A-Za-z0-9._-]|$))"), instead)
            for root, instead in sorted(pairs.items(), key=lambda kv: -len(kv[0]))]


def hide(text: str, roots: list[tuple[re.Pattern, str]]) -> str:
    """`text` with every server root replaced (``<data>/datasets/x`` -> ``datasets/x``)."""
    for pattern, instead in roots:
        text = pattern.sub(lambda m, instead=instead: "" if instead == "." and m.group(1) else
                           (instead + (m.group(1) or "")), text)
    return text


class HidePaths:
    """Rewrites JSON response bodies with `hide` (they are small: the API answers JSON only)."""

    def __init__(self, app, *, data_dir: str | Path) -> None:
        self.app = app
        self.roots = server_roots(data_dir)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start: dict | None = None
        body: list[bytes] = []

        async def rewriting(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if not headers.get(b"content-type", b"").startswith(b"application/json"):
                    return await send(message)
                start = message
                return None
            if message["type"] != "http.response.body" or start is None:
                return await send(message)
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            raw = b"".join(body)
            try:
                original = raw.decode("utf-8")
                text = hide(original, self.roots)
                if text != original:
                    json.loads(text)  # a rewrite must leave valid JSON
                    raw = text.encode("utf-8")
            except ValueError:
                pass
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(raw)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": raw, "more_body": False})

        await self.app(scope, receive, rewriting)
