"""`cadrecon dataset push`: huggingface_hub's real client, with only the HTTP exchange answered here
(the Hub's create-repo, preupload and commit endpoints), so what would reach the Hub is checked."""

from __future__ import annotations

import base64
import json

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from cadlib.dataset.layout import DatasetLayout
from cadlib.dataset.publish import files_to_push
from cadlib.dataset.writers import write_split
from deployments.cli import app


def _dataset(root):
    (root / "images").mkdir(parents=True)
    samples = []
    for i in range(3):
        name = f"images/m{i}_front.png"
        Image.new("L", (32, 32), 40 * i).save(root / name)
        samples.append({"id": f"m{i}_front", "model_id": f"m{i}", "split": "train", "view": "front", "image": name,
                        "prompt": "<image>\nWrite it.", "target": f"bits 8\n{i}\n", "tokens": 4})
    layout = DatasetLayout(root)
    write_split(layout, "train", samples)
    layout.card.write_text("---\nlicense: mit\n---\n# d\n")
    layout.info.write_text(json.dumps({"name": "d", "config": {}}))
    layout.manifest.write_text("")
    return layout


@pytest.fixture
def fake_hub(monkeypatch):
    """huggingface_hub's HTTP client over a transport that answers as the Hub does; records commits."""
    import httpx2
    import huggingface_hub
    from huggingface_hub.utils import _http

    seen: dict = {"requests": [], "commits": []}

    def handle(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        seen["requests"].append((request.method, path))
        if seen.get("refuse"):
            return httpx2.Response(403, json={"error": "You don't have the rights to create datasets under other"})
        if path == "/api/repos/create":
            body = json.loads(request.content)
            assert body["type"] == "dataset"
            return httpx2.Response(200, json={"url": f"https://huggingface.co/datasets/{body['organization']}/{body['name']}"})
        if path == "/api/validate-yaml":  # the card's metadata, checked before the commit
            body = json.loads(request.content)
            header = yaml.safe_load(body["content"].split("---\n")[1])
            seen["card_header"] = header
            ok = body["repoType"] == "dataset" and isinstance(header, dict) and "license" in header
            return httpx2.Response(200 if ok else 400, json={"errors": [] if ok else [{"message": "bad card"}],
                                                               "warnings": []})
        if path.endswith("/preupload/main"):
            files = json.loads(request.content)["files"]
            return httpx2.Response(200, json={"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                        for f in files]})
        if path.endswith("/commit/main"):
            lines = [json.loads(line) for line in request.content.decode().splitlines() if line]
            seen["commits"].append(lines)
            return httpx2.Response(200, json={"commitUrl": "https://huggingface.co/datasets/me/d/commit/1",
                                              "commitOid": "1" * 40})
        return httpx2.Response(404, json={"error": f"unexpected {path}"})

    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handle)))
    yield seen
    huggingface_hub.set_client_factory(_http.default_client_factory)


def test_push_commits_the_card_and_the_parquet_with_its_images(tmp_path, fake_hub):
    layout = _dataset(tmp_path / "d")
    res = CliRunner().invoke(app, ["dataset", "push", str(layout.root), "me/d", "--token", "hf_test"])
    assert res.exit_code == 0, res.output
    assert "pushed 3 file(s)" in res.stdout and 'load_dataset("me/d")' in res.stdout
    (commit,) = fake_hub["commits"]
    assert commit[0]["key"] == "header" and "cadrecon" in commit[0]["value"]["summary"]
    sent = {op["value"]["path"]: base64.b64decode(op["value"]["content"]) for op in commit[1:] if op["key"] == "file"}
    assert set(sent) == {"README.md", "train.parquet", "cadrecon.json"}
    assert sent["train.parquet"] == (layout.root / "train.parquet").read_bytes()  # images inside, byte for byte
    assert fake_hub["card_header"] == {"license": "mit"}


def test_raw_files_add_the_llava_files_and_the_images(tmp_path):
    layout = _dataset(tmp_path / "d")
    names = files_to_push(layout, raw_files=True)
    assert {"train.json", "train.jsonl", "images/m0_front.png"} <= set(names)
    assert "train.json" not in files_to_push(layout)


def test_a_refused_push_is_one_line_naming_the_dataset_and_the_repo(tmp_path, fake_hub):
    layout = _dataset(tmp_path / "d")
    fake_hub["refuse"] = True
    res = CliRunner().invoke(app, ["dataset", "push", str(layout.root), "other/d", "--token", "hf_test"])
    assert res.exit_code == 2 and not fake_hub["commits"]
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"error: {layout.root}: push to other/d failed") and "Traceback" not in res.output


def test_an_unfinished_dataset_is_not_pushed(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.jsonl").write_text("")
    res = CliRunner().invoke(app, ["dataset", "push", str(tmp_path / "d"), "me/d", "--token", "hf_test"])
    assert res.exit_code == 2 and "not a finished dataset" in res.stderr


def test_every_source_kind_is_named_in_the_card():
    from cadlib.dataset.report import SOURCE_DATASETS
    from cadlib.vocabulary import SourceKind

    assert set(SOURCE_DATASETS) == set(SourceKind)
    assert SOURCE_DATASETS["files"] == "local CAD files"  # was "local files files"
