"""The reconstruction flow: one CAD or mesh file -> views -> generated construction sequence ->
rebuilt solid (STEP) with its metrics.

    python -m flows.reconstruct part.step --model data/runs/demo-tiny_cpu-full/adapter

Writes the STEP, the input views and a side-by-side image into the output folder, `result.json`
beside them, and publishes the result table and the side-by-side image to the Prefect UI.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from prefect import flow, get_run_logger

from cadlib.dataset import write_json_atomic
from config import get_settings
from flows.heartbeat import beating
from flows.prefect_home import require_prefect_home
from flows.run_names import reconstruct_run_name
from tasks import artifacts
from tasks.artifacts import Suffix
from tasks.reconstruction import reconstruct_one, result_row
from tasks.reconstruction_reports import Reconstruction
from vlm.generate import require_trained_folder

KEY = "reconstruction"
"""The run key of a reconstruct run's artifacts (its result table; `-views`: the side-by-side image)."""


@flow(name="reconstruct", flow_run_name=reconstruct_run_name, log_prints=True)
async def reconstruct(file: str, model: str, out: str | None = None, samples: int = 4,
                      constrained: bool = True) -> Reconstruction:
    """Reconstructs one file with a trained adapter.

    Args:
        file: any supported CAD or mesh file (STEP, IFC, OBJ, STL, DeepCAD JSON, ...).
        model: the adapter folder made by the train flow.
        out: the STEP to write (default: <file's folder>/<stem>_reconstruction.step).
        samples: samples per view; the best valid one is kept (best-of-N).
        constrained: grammar-constrained decoding.
    """
    with beating(get_settings().data_dir):
        return await asyncio.to_thread(_reconstruct, file, model, out, samples, constrained)


def _check(file: str, model: str) -> None:
    if not Path(file).is_file():
        raise ValueError(f"{file}: no such file")
    require_trained_folder(model)


def _reconstruct(file: str, model: str, out: str | None, samples: int, constrained: bool) -> Reconstruction:
    _check(file, model)  # again here: a run the API or a schedule starts skips run_reconstruct
    path = Path(file)
    out_step = Path(out) if out else path.with_name(f"{path.stem}_reconstruction.step")
    result = reconstruct_one(str(path), model, str(out_step), samples, constrained)
    write_json_atomic(out_step.with_suffix("") / "result.json", result)
    artifacts.table(KEY, [result_row(result)], f"{path.name}: reconstruction")
    side = result.get("side_by_side")
    if side and Path(side).is_file():
        artifacts.image(artifacts.key(KEY, Suffix.VIEWS), Path(side).read_bytes(), "input views above, reconstruction below")
    get_run_logger().info("%s: %d generated, %d parsed, %d valid", path.name, result["samples"], result["parsed"],
                          result["valid"])
    return result


def run_reconstruct(file: str, model: str, *, out: str | None = None, samples: int = 4, constrained: bool = True
                    ) -> Reconstruction:
    """Runs the flow after checking its arguments (one error line, no Failed run)."""
    _check(file, model)
    require_prefect_home()
    return asyncio.run(reconstruct(file, model, out, samples, constrained))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.reconstruct", description=__doc__.split("\n\n")[0])
    p.add_argument("file")
    p.add_argument("--model", required=True, help="adapter folder")
    p.add_argument("--out", help="STEP to write")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--no-constrain", action="store_true")
    a = p.parse_args(argv)
    r = run_reconstruct(a.file, a.model, out=a.out, samples=a.samples, constrained=not a.no_constrain)
    print(json.dumps(result_row(r), indent=1))  # noqa: T201 - the command line's answer
    return 0


if __name__ == "__main__":
    sys.exit(main())
