"""A files source accounts for every entry named like a model: good files are items; a non-UTF-8
name, a link that dangles, loops or leaves the folder, a FIFO, a folder named like a model and a
link to a folder are failure rows with their cause, never opened (a FIFO would block a reader)."""

from __future__ import annotations

import os

from cadlib.dataset.extract import describe_items
from cadlib.dataset.sources import list_files

GOOD = "solid t\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid t\n"


def _corpus(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "good.stl").write_text(GOOD)
    (src / "sub" / "good2.stl").write_text(GOOD)
    (src / "notes.md").write_text("not a model")  # other suffixes are not listed
    (src / "part.mtl").write_text("companion")
    os.symlink(src / "good.stl", src / "inside.stl")  # a link that stays inside: a model
    outside = tmp_path / "elsewhere.stl"
    outside.write_text(GOOD)
    os.symlink(outside, src / "outside.stl")
    os.symlink(src / "nowhere.stl", src / "dangling.stl")
    os.symlink(src / "loop.stl", src / "loop.stl")
    os.mkfifo(src / "pipe.stl")
    (src / "folder.step").mkdir()
    os.symlink(tmp_path, src / "dirlink.obj")
    with open(os.path.join(os.fsencode(src), b"caf\xe9.stl"), "w") as fh:
        fh.write(GOOD)
    return src


def test_every_entry_is_a_model_or_a_failure_row(tmp_path):
    src = _corpus(tmp_path)
    items = list_files(src)
    problems = {i.rel: i.problem[0] for i in items if i.problem}
    assert problems == {"outside.stl": "Symlink", "dangling.stl": "Symlink", "loop.stl": "Symlink",
                        "pipe.stl": "NotAFile", "folder.step": "NotAFile", "dirlink.obj": "NotAFile",
                        "caf\\xe9.stl": "UnreadableName"}
    assert sorted(i.rel for i in items if not i.problem) == ["good.stl", "inside.stl", "sub/good2.stl"]
    assert len({i.id for i in items}) == len(items) == 10
    allowed = {i.rel for i in list_files(src, links_outside=True) if not i.problem}
    assert "outside.stl" in allowed

    def never(jobs):  # problem entries must not reach a worker
        assert all(not j.path.endswith(("pipe.stl", "dangling.stl")) for j in jobs)
        for j in jobs:
            yield j, None, "Skipped", "not described in this test"

    from cadlib.dataset.extract import DescribeJob

    records = describe_items(items, never, lambda i: DescribeJob(i.id, str(i.path), "", 8, 10.0), {}, {},
                             lambda _: False)
    assert len(records) == 10
    rows = {r.source: (r.error_class, r.error) for r in records.values()}
    assert rows["pipe.stl"][0] == "NotAFile" and "FIFO" in rows["pipe.stl"][1]
    assert "leaves the source folder" in rows["outside.stl"][1]
