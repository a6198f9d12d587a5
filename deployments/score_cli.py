"""`cadrecon score`: any method's predictions scored against truths under the published protocols
(`cadlib.scoring`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deployments.cli_errors import clean_errors


@clean_errors
def score(
    pred: Annotated[Path, typer.Argument(help="folder of predictions: <id>.<ext> or <id>+<k>.<ext> "
                                              "(.py CadQuery, .step, .stl/.obj/..., .txt sequence, .json DeepCAD)")],
    truth: Annotated[Path, typer.Argument(help="folder of truths <id>.<ext> (any format cadrecon reads) or a "
                                               "cadrecon dataset folder")],
    protocol: Annotated[list[str], typer.Option("--protocol", "-p", help="cadrille, deepcad, aligned (repeat)")] = None,
    split: Annotated[str, typer.Option(help="the split, where TRUTH is a dataset")] = "test",
    timeout: Annotated[float | None, typer.Option(help="seconds to execute one prediction (cadrille: 3)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="isolated worker processes")] = 2,
    seed: Annotated[int, typer.Option(help="surface-sampling seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="per-model rows (default: <PRED>.scores.csv)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar (none is drawn when stderr is not a terminal)")] = False,
) -> None:
    """Score predictions against truths: median CD (x1e3), mean IoU, invalid ratio per protocol."""
    from cadlib.scoring.folder import score_folder, write_rows_csv
    from deployments.terminal_progress import progress_bars
    from tasks import progress

    def show(done: int, total: int) -> None:
        progress.reached("scored", done, total)

    with progress_bars(quiet):
        report = score_folder(pred, truth, protocols=tuple(protocol or ("cadrille", "deepcad", "aligned")),
                              split=split, timeout_s=timeout, workers=workers, seed=seed, progress=show)
    csv_file = write_rows_csv(report, csv_path or pred.with_name(pred.name + ".scores.csv"))
    if as_json:
        typer.echo(json.dumps({**{k: v for k, v in report.items() if k != "rows"}, "csv": str(csv_file)}, indent=1))
        return
    typer.echo(f"{report['models']} models, {report['predictions']} predictions "
               f"({report['samples_per_model']} per model at most, best-of-N), {report['seconds']} s")
    typer.echo(f"{'protocol':<10} {'n':>5} {'invalid':>8} {'median CD':>10} {'mean IoU':>9} {'median IoU':>10}")
    for name, s in report["protocols"].items():
        typer.echo(f"{name:<10} {s['n']:>5} {_f(s['invalid_ratio']):>8} {_f(s['median_cd']):>10} "
                   f"{_f(s['mean_iou']):>9} {_f(s['median_iou']):>10}")
    for cause, n in sorted(report["invalid_causes"].items(), key=lambda kv: -kv[1]):
        typer.echo(f"  invalid: {n} x {cause}")
    for r in report["rows"]:
        if r["cause"]:
            typer.echo(f"    {r['id']}: {r['error']}")
    if report["unmatched_predictions"]:
        typer.echo(f"  {len(report['unmatched_predictions'])} prediction(s) name no truth: "
                   + ", ".join(report["unmatched_predictions"][:5]))
    typer.echo(f"per-model rows: {csv_file}")


def _f(x) -> str:
    return "-" if x is None else f"{x:.4g}"
