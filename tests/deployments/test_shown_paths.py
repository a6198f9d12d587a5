"""Server paths as API clients see them: relative to the data folder, other server folders hidden."""

from __future__ import annotations

import os
import tempfile

from deployments.shown_paths import hide, server_roots, shown


def test_shown_is_relative_to_the_data_folder(tmp_path):
    data = tmp_path / "data"
    assert shown(data / "datasets" / "demo", data) == "datasets/demo"
    assert shown("runs/x", data) == "runs/x"
    assert shown(data, data) == "."
    assert shown(tmp_path / "elsewhere" / "m.step", data) == "<server>/m.step"


def test_hide_rewrites_whole_path_components_only(tmp_path, monkeypatch):
    data = (tmp_path / "data").resolve()
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    roots = server_roots(data)
    assert hide(f"'{data}/datasets/a b.png' failed", roots) == "'datasets/a b.png' failed"
    assert hide(f"{data}: full", roots) == ".: full"
    # a sibling whose name starts like the data folder is another folder: hidden as a server path
    sibling = f"{data}2/x"
    assert str(data) not in hide(sibling, roots).replace(str(data) + "2", "")
    assert hide(f"in {os.getcwd()}/config", roots) == "in <server>/config"
    assert tempfile.gettempdir() not in hide(f"{tempfile.gettempdir()}/x", roots)
    assert hide("POST /training/start", roots) == "POST /training/start"
