"""Reading a settings preset or a training recipe from YAML, checked before any work starts: every
problem is one line that names the file (and the line, for a syntax error), and a key the settings
do not have is refused with the nearest key they do have (`trian_size` -> `train_size`), where it
was silently ignored before.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in `path` ({} for an empty file).

    Raises:
        ValueError: one line naming the file: unreadable, not text, not YAML (with its line and
            column), or not a mapping at the top.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text (UTF-8) YAML file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{path}{where}: not valid YAML ({what})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings at the top (key: value), found a "
                         f"{type(data).__name__}")
    return data


def unknown_keys(data: dict, model: type[BaseModel], prefix: str = "") -> list[str]:
    """Each key of `data` (nested sections included) that `model` has no field for, as
    "'dataset.trian_size' (did you mean 'train_size'?)"."""
    out = []
    fields = model.model_fields
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            near = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (known: {', '.join(sorted(fields))})"
            out.append(f"{name!r}{hint}")
            continue
        sub = _model_of(fields[key].annotation)
        if sub is not None and isinstance(value, dict):
            out += unknown_keys(value, sub, f"{name}.")
    return out


def check_keys(path: str | Path, data: dict, model: type[BaseModel]) -> None:
    """Raises ValueError naming `path` and the first unknown key (and how many more)."""
    bad = unknown_keys(data, model)
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise ValueError(f"{path}: unknown key {bad[0]}{more}")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings section a field holds (its annotation, or the model inside `X | None`)."""
    for t in (annotation, *get_args(annotation)):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None
