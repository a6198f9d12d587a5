"""Runs CadQuery scripts for `cadlib.cadquery_exec`, inside the interpreter that has CadQuery.

This file is executed as a script (`python cadquery_worker.py`), never imported by cadlib: it needs
only the standard library and `cadquery`. It reads one JSON request per line on stdin
(``{"code": ..., "step": path, "timeout": seconds}``), runs the code in a fresh namespace, exports
the `result` variable to `step` and answers one JSON line: ``{"ok", "error", "solids", "valid",
"volume"}`` as CadQuery itself measures them.
"""

from __future__ import annotations

import json
import signal
import sys


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _run(req: dict, cq) -> dict:
    ns: dict = {"__name__": "__cadrecon__"}
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, float(req.get("timeout", 10.0)))
    try:
        exec(compile(req["code"], "<target>", "exec"), ns)
        result = ns.get("result")
        if result is None:
            return {"ok": False, "error": "NoResult: the script sets no variable 'result'"}
        wp = result if isinstance(result, cq.Workplane) else cq.Workplane("XY").add(result)
        solids = wp.solids().vals()
        shape = cq.Compound.makeCompound(solids) if len(solids) != 1 else solids[0]
        if req.get("step"):
            cq.exporters.export(cq.Workplane("XY").add(shape), req["step"], exportType="STEP")
        return {"ok": True, "error": "", "solids": len(solids), "valid": bool(shape.isValid()),
                "volume": float(sum(s.Volume() for s in solids))}
    except _Timeout:
        return {"ok": False, "error": f"Timeout: the script ran past {req.get('timeout', 10.0)} s"}
    except Exception as exc:  # noqa: BLE001 - any failure of a user's script is its result
        return {"ok": False, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main() -> None:
    import cadquery as cq

    out = sys.stdout
    sys.stdout = sys.stderr  # a script's prints must not corrupt the answers
    out.write(json.dumps({"ready": True, "cadquery": cq.__version__}) + "\n")
    out.flush()
    for line in sys.stdin:
        if line.strip():
            out.write(json.dumps(_run(json.loads(line), cq)) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
