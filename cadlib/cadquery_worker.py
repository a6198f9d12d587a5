"""Runs CadQuery scripts for `cadlib.cadquery_exec`, inside the interpreter that has CadQuery.

This file is executed as a script (`python cadquery_worker.py`), never imported by cadlib: it needs
only the standard library and `cadquery`. It reads one JSON request per line on stdin
(``{"code": ..., "step": path, "timeout": seconds}``), runs the code in a fresh namespace, exports
its result to `step` and answers one JSON line: ``{"ok", "error", "solids", "valid", "volume"}`` as
CadQuery itself measures them. The result is what peers' scripts leave: the variable `result`, else
`r` (cadrille, CAD-Recode), else what the script passed to `show_object` (CQ-editor).

The worker dies with its parent (PR_SET_PDEATHSIG), so a caller killed while a script hangs in
native code leaves no process behind.
"""

from __future__ import annotations

import json
import signal
import sys


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the parent's timeout still kills this process


def _result(ns: dict, shown: list):
    for name in ("result", "r"):
        if ns.get(name) is not None:
            return ns[name]
    return shown[-1] if shown else None


def _run(req: dict, cq) -> dict:
    shown: list = []
    ns: dict = {"__name__": "__cadrecon__", "show_object": lambda obj, *a, **k: shown.append(obj)}
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, float(req.get("timeout", 10.0)))
    try:
        exec(compile(req["code"], "<target>", "exec"), ns)
        result = _result(ns, shown)
        if result is None:
            return {"ok": False, "error": "NoResult: the script sets neither 'result' nor 'r' and shows no object"}
        wp = result if isinstance(result, cq.Workplane) else cq.Workplane("XY").add(result)
        solids = wp.solids().vals()
        if not solids:
            return {"ok": False, "error": "NoSolid: the script's result holds no solid"}
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
    _die_with_parent()
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
