"""The README is a front door that does not lie: small, every command it shows is a real command
with the options it shows, and every document it links to exists (with the heading it names)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _shown_commands() -> list[str]:
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README, flags=re.S)
    lines = [ln.split("#")[0].strip() for b in blocks for ln in b.splitlines() if ln.startswith("cadrecon ")]
    out = []
    for ln in lines:  # `cadrecon model init-tiny ... | generate ... | export ...`: one command each
        first, *alternatives = ln.split(" | ")
        out.append(first)
        group = first.split()[1]
        out += [f"cadrecon {group} {alt}" for alt in alternatives]
    return out


def test_the_readme_is_a_front_door():
    assert len(README.encode()) <= 15_000
    first = README.split("```")[1]
    assert "make demo" in first and "make test" in first  # the two commands come first


def test_every_document_it_links_to_exists():
    for target, anchor in re.findall(r"\]\(((?:docs/)?[\w./-]+\.md)(?:#([\w-]+))?\)", README):
        doc = ROOT / target
        assert doc.is_file(), target
        if anchor:
            slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
                     for h in re.findall(r"^#+ (.*)$", doc.read_text(encoding="utf-8"), flags=re.M)}
            assert anchor in slugs, (target, anchor)


@pytest.mark.parametrize("line", _shown_commands())
def test_every_command_it_shows_exists_with_its_options(line):
    from deployments.cli import app

    words = line.split()[1:]
    path = [w for w in words[:2] if re.fullmatch(r"[a-z][a-z-]*", w)]
    if len(path) == 2:  # `dataset build`, `model export`: a group and its command, or a command and an argument
        probe = CliRunner().invoke(app, [*path, "--help"])
        if probe.exit_code != 0:
            path = path[:1]
    res = CliRunner().invoke(app, [*path, "--help"])
    assert res.exit_code == 0, (line, res.output)
    for option in re.findall(r"(--[a-z][a-z-]*)", line):
        assert option in res.output, (line, option)
