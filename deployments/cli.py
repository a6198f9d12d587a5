"""The `cadrecon` command line: one sub-command per stage.

Bad input prints one line, ``error: <file>: <cause>``, on stderr and exits with status 2; add
``--debug`` for the traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import warnings
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cadlib.vocabulary import Style
from deployments.cli_errors import clean_errors, set_debug
from deployments.dataset_cli import app as dataset_app
from deployments.score_cli import score as score_command
from deployments.train_cli import evaluate as evaluate_command
from deployments.train_cli import model_app
from deployments.train_cli import reconstruct as reconstruct_command
from deployments.train_cli import train as train_command

# Prefect warns on import (two lines) when PREFECT_HOME cannot be made; the commands that need it
# say so on one line (flows.prefect_home), the others do not need it.
warnings.filterwarnings("ignore", message="Failed to create the Prefect home directory")

app = typer.Typer(add_completion=False, no_args_is_help=True, help="CAD reconstruction with vision-language models.")
app.add_typer(dataset_app, name="dataset")
app.add_typer(model_app, name="model")
app.command("train")(train_command)
app.command("reconstruct")(reconstruct_command)
app.command("evaluate")(evaluate_command)
app.command("score")(score_command)


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False) -> None:
    set_debug(debug)
    _exit_on_sigterm()


def _exit_on_sigterm() -> None:
    """SIGTERM (a process manager's stop, `docker stop`) becomes SystemExit in the main thread, so
    `finally` blocks and atexit hooks run: the ephemeral Prefect server a command started stops
    with it instead of living on without a parent (uvicorn re-raises the signal after its own
    graceful shutdown; the default action would kill the process before atexit). SIGTERM and
    Ctrl-C also raise the stop request that work in other threads (training) looks at: the
    process would otherwise wait for that thread to finish on its own."""
    from cadlib.stop_request import request_stop

    def on_term(signum, frame):
        request_stop()
        sys.exit(128 + signum)

    def on_int(signum, frame):
        request_stop()
        signal.default_int_handler(signum, frame)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_int)


def _bits() -> int:
    from config import get_settings

    return get_settings().sequence.bits


class SeqFormat(StrEnum):
    text = "text"
    cadquery = "cadquery"


@app.command()
@clean_errors
def inspect(
    file: Path,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Format, kind, counts, bounding box, volume and validity of a CAD file."""
    from cadlib.ingest import summarize_model
    from config import get_settings

    info = summarize_model(file, max_mb=get_settings().dataset.max_file_mb)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        typer.echo(f"{key:>10}: {value}")


@app.command()
@clean_errors
def sequence(
    file: Path,
    fmt: Annotated[SeqFormat, typer.Option("--format", help="text or cadquery")] = SeqFormat.text,
) -> None:
    """Print the construction sequence of a JSON model (or re-print sequence text)."""
    from cadlib import normalize, read_sequence, to_cadquery, to_text
    from cadlib.sequence_io import SequenceSource
    from cadlib.transform import in_mm

    bits = _bits()
    seq, source = read_sequence(file, bits=bits)
    if fmt is SeqFormat.cadquery:
        typer.echo(to_cadquery(in_mm(seq)), nl=False)
    else:
        typer.echo(to_text(normalize(seq) if source is SequenceSource.JSON else seq, bits), nl=False)


@app.command()
@clean_errors
def build(
    file: Path,
    out: Annotated[Path, typer.Option("--out", help="STEP file to write")],
) -> None:
    """Build the solid of a JSON model or sequence text and write it as STEP (millimetres)."""
    from cadlib import occ, read_sequence
    from cadlib.transform import in_mm

    seq, _ = read_sequence(file, bits=_bits())
    shape = occ.build_solid(in_mm(seq))
    occ.write_step(shape, out)
    typer.echo(f"{out}: volume {occ.volume(shape):.6g} mm^3, valid {occ.is_valid(shape)}")


@app.command()
@clean_errors
def render(
    file: Path,
    out: Annotated[Path, typer.Option("--out", help="folder for <name>_<view>.png (and .svg)")],
    views: Annotated[str | None, typer.Option("--views", help="comma-separated: front,top,right,iso")] = None,
    style: Annotated[Style | None, typer.Option("--style", help="shaded or lines")] = None,
    size: Annotated[int | None, typer.Option("--size", min=32, max=4096, help="pixels")] = None,
    tile: Annotated[bool, typer.Option("--tile", help="also write a 2x2 composite")] = False,
    no_hidden: Annotated[bool, typer.Option("--no-hidden", help="lines style: omit hidden edges")] = False,
    poly: Annotated[bool, typer.Option("--poly", help="lines style: polygonal hidden-line removal (fast)")] = False,
) -> None:
    """Render orthographic views of any supported file."""
    from cadlib.ingest import load_model
    from cadlib.render import render_views, save_rendered
    from config import get_settings

    cfg = get_settings()
    model = load_model(file, max_mb=cfg.dataset.max_file_mb)
    rendered = render_views(
        model,
        views.split(",") if views else cfg.render.views,
        size=size or cfg.render.size,
        style=(style.value if style else cfg.render.style),
        hidden=not no_hidden,
        exact=not poly,
        platform=cfg.render.gl_platform,
    )
    written = save_rendered(rendered, out, Path(file).stem, with_tile=tile)
    typer.echo(f"wrote {len(written)} file(s) to {out}: " + ", ".join(p.name for p in written))


@app.command()
@clean_errors
def synth(
    n: Annotated[int, typer.Option("--n", min=1, help="number of models")] = 20,
    out: Annotated[Path, typer.Option("--out", help="folder to write JSON models to")] = Path("data/synth"),
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Generate DeepCAD-format JSON models (plates, brackets, shafts, flanges, ...)."""
    from cadlib import write_synthetic

    paths = write_synthetic(out, n, seed)
    typer.echo(f"wrote {len(paths)} models to {out}")


DEMO_MINUTES = 2.0
"""The demo's short training (the whole demo stays near 5 minutes on 2 cores)."""


@app.command()
@clean_errors
def demo(
    force: Annotated[bool, typer.Option("--force", help="ignore cached results")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bars")] = False,
    minutes: Annotated[float, typer.Option(help="the short training's budget", min=0.05)] = DEMO_MINUTES,
) -> None:
    """The main job on embedded defaults: build the demo dataset (synthetic models: extract ->
    render -> convert -> validate), a convergence test-run of the CPU model on it, then a short
    training of that model and the reconstruction of one held-out part, scored beside the
    constant baseline, with Prefect's embedded server."""
    from deployments.dataset_cli import build as build_dataset
    from deployments.train_cli import demo_reconstruction, train

    build_dataset("demo", force=force, quiet=quiet)
    train(dataset="demo", recipe="tiny_cpu", test_run=True, out=None)
    demo_reconstruction("demo", minutes=minutes)


@app.command()
@clean_errors
def serve(
    pause_on_shutdown: Annotated[bool, typer.Option("--pause-on-shutdown", help="pause the schedules on exit")] = False,
    limit: Annotated[int | None, typer.Option(help="most flow runs at once")] = None,
) -> None:
    """Serve the deployments (nightly dataset build; on-demand build, train, evaluate, reconstruct)."""
    from config import get_settings
    from deployments.serve import serve_all

    serve_all(get_settings(), pause_on_shutdown=pause_on_shutdown, limit=limit)


@app.command()
@clean_errors
def api(
    host: Annotated[str | None, typer.Option(help="interface to bind (default: api.host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: api.port, 7001)")] = None,
) -> None:
    """The REST API that starts and reads runs (Swagger at /docs); `cadrecon serve` runs them."""
    from config import get_settings
    from deployments.api import serve_api

    serve_api(get_settings(), host, port)


def main() -> None:  # pragma: no cover - console script
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
