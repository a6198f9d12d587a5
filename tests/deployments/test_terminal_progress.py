"""The commands' progress bars (`dataset build`, `reconstruct`, `evaluate`, `score`): a bar with an
ETA per stage on a terminal; nothing when piped, quiet or `CADRECON_QUIET`."""

from __future__ import annotations

import io

from deployments.terminal_progress import progress_bars
from tasks import progress
from vlm.progress_bar import QUIET_ENV


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _stages() -> None:
    progress.start("generate", 512)
    for step in range(1, 40):
        progress.at_least("generate", step)
    progress.at_least("generate", 512)
    progress.start("score", 3)
    for _ in range(3):
        progress.advance("score")


def test_a_terminal_gets_a_bar_with_an_eta_per_stage(monkeypatch):
    monkeypatch.delenv(QUIET_ENV, raising=False)
    out = Terminal()
    with progress_bars(stream=out):
        _stages()
    text = out.getvalue()
    assert "generate" in text and "512/512" in text and "score" in text and "3/3" in text and "eta" in text


def test_piped_quiet_or_silenced_draw_nothing_and_leave_no_listener(monkeypatch):
    monkeypatch.delenv(QUIET_ENV, raising=False)
    for stream, quiet in ((io.StringIO(), False), (Terminal(), True)):
        with progress_bars(quiet, stream=stream):
            _stages()
        assert stream.getvalue() == ""
    monkeypatch.setenv(QUIET_ENV, "1")
    out = Terminal()
    with progress_bars(stream=out):
        _stages()
    assert out.getvalue() == "" and not progress._listeners
