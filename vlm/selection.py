"""Model selection by held-out IoU: every N steps (or minutes of training) a fixed subset of the val
split is decoded with constrained greedy decoding and scored under the cadrille protocol; the best
weights are kept, and the run stops when the score has not improved for `patience` evaluations.

The val loss is a poor judge of a sequence model: it fell for twenty epochs on a GPU run and kept
falling while the answers it decoded got no better, then rose while the train loss went on down
(memorisation). What a user wants from the run is the model that rebuilds held-out parts best, so
that is what is measured and kept.

The selection score is the mean IoU over every answer, an answer that does not build scoring 0 (so
a model cannot win by writing few valid answers); `mean_iou` (over the answers that build, as
cadrille reports it) and `invalid_ratio` are recorded beside it.

The best weights (the trainable ones) are written to `<out>/selection/best.safetensors` and the
curve to `<out>/selection/curve.json` at each improvement, so a resumed run keeps them; at the end
of the run the best weights are loaded back before the model is saved. Time spent evaluating is
held off the training clock, so a timed run trains for its whole budget.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from cadlib.atomic import write_text_atomic
from cadlib.vocabulary import Verdict
from vlm.collate import Sample

if TYPE_CHECKING:
    from cadlib.workers import WorkerPool


@dataclass(frozen=True, slots=True)
class SelectionSpec:
    """When and how a run evaluates itself (a recipe's `selection`)."""

    every_steps: int | None = None
    every_minutes: float | None = None
    val_models: int = 24
    patience: int = 4
    """Evaluations without a better score before the run stops; 0: never stop early."""
    min_delta: float = 0.002
    workers: int = 2
    """Processes that build and score the answers (OCP booleans)."""

    @property
    def enabled(self) -> bool:
        return bool(self.every_steps or self.every_minutes)


class IouPoint(TypedDict):
    """One evaluation: where in training, and how well the decoded val subset rebuilds."""

    step: int
    epoch: float
    train_minutes: float
    score: float
    mean_iou: float | None
    median_iou: float | None
    invalid_ratio: float
    n: int
    seconds: float


class Selected(TypedDict):
    """A run's selection record (training_report.json's `selection`)."""

    curve: list[IouPoint]
    kept_step: int | None
    kept_score: float | None
    stopped_early: bool
    seconds: float  # spent evaluating (decoding and scoring), off the training clock
    rule: str


class AnswerScore(TypedDict):
    valid: bool
    error: str
    iou: float | None
    cd: float | None


class Summary(TypedDict):
    score: float
    mean_iou: float | None
    median_iou: float | None
    median_cd: float | None
    invalid_ratio: float
    n: int


RULE = ("score = mean cadrille IoU over the decoded val subset, 0 for an answer that does not build; the kept "
        "weights are those of the best score; the run stops after `patience` evaluations without an improvement "
        "of at least `min_delta`")


def score_one(args: tuple[str, str, int]) -> AnswerScore:
    """Builds one answer and scores it against one truth text: validity, cadrille IoU and CD."""
    text, truth_text, bits = args
    from cadlib.evaluation import score_text, truth_from_text

    s = score_text(text, truth_from_text(truth_text, bits), bits=bits, protocols=("cadrille",))
    return {"valid": s["valid"], "error": s["error"], "iou": s["iou"]["cadrille"], "cd": s["cd"]["cadrille"]}


SCORE_TIMEOUT = 60.0
"""Seconds one answer may take to build and score: an early model writes solids whose booleans OCCT
can work on for minutes, or crash on; such an answer counts as one that does not build."""


def score_many(pool: WorkerPool, texts: list[str], truths: list[str], bits: int,
               timeout: float = SCORE_TIMEOUT) -> list[AnswerScore]:
    """`score_one` over answer/truth pairs in a supervised pool (spawned workers: a forked child of a
    training process inherits torch's and Prefect's locks held; a hung or crashed build is killed
    and scored invalid, not waited on), in the order given."""
    jobs = [(t, g, bits) for t, g in zip(texts, truths, strict=True)]
    out: list[AnswerScore | None] = [None] * len(jobs)
    for o in pool.run(score_one, jobs, timeout=timeout):
        out[o.index] = o.value if o.ok else {"valid": False, "iou": None, "cd": None,
                                            "error": f"{o.status.value}: {o.error_class}: {o.message}"}
    return [s for s in out if s is not None]


def summarize(scores: list[AnswerScore]) -> Summary:
    """mean/median IoU and median CD over the answers that build, the invalid share, and the
    selection `score` (IoU over all answers, 0 where one does not build)."""
    valid = [s for s in scores if s["valid"]]
    ious = [s["iou"] for s in valid if s["iou"] is not None]
    cds = [s["cd"] for s in valid if s["cd"] is not None]
    return {"score": round(sum(ious) / len(scores), 4) if scores else 0.0,
            "mean_iou": round(statistics.fmean(ious), 4) if ious else None,
            "median_iou": round(statistics.median(ious), 4) if ious else None,
            "median_cd": round(statistics.median(cds), 4) if cds else None,
            "invalid_ratio": round(1 - len(valid) / len(scores), 4) if scores else 1.0, "n": len(scores)}


def bits_of(text: str) -> int:
    """The quantisation bits a sequence text declares on its first line ("bits 8")."""
    head = text.split("\n", 1)[0].split()
    if len(head) != 2 or head[0] != "bits" or not head[1].isdigit():
        raise ValueError(f"a val target does not start with 'bits N': {text[:40]!r}")
    return int(head[1])


def val_subset(val: list[Sample], n: int) -> list[Sample]:
    """The first `n` val samples with distinct targets (one per part where a part has several
    view samples), in the split's order: the same subset at every evaluation and every resume."""
    seen: set[str] = set()
    out = []
    for s in val:
        if s.target not in seen:
            seen.add(s.target)
            out.append(s)
        if len(out) == n:
            break
    return out


class Evaluator:
    """Decodes and scores a fixed subset of samples; a process pool builds the answers."""

    def __init__(self, samples: list[Sample], workers: int = 2, batch: int = 16,
                 max_new_tokens: int | None = None) -> None:
        if not samples:
            raise ValueError("selection by IoU needs val samples: the dataset has no val split")
        import importlib.util

        if importlib.util.find_spec("OCP") is None:  # the scoring builds solids
            raise ValueError("selection by IoU builds the decoded answers with OCP (pip install cadquery-ocp); "
                             "install it or turn selection off (selection: {every_steps: null})")
        self.samples = samples
        self.bits = bits_of(samples[0].target)
        self.batch = batch
        self.max_new_tokens = max_new_tokens
        self.workers = workers
        self._pool: WorkerPool | None = None

    def texts(self, model, processor) -> list[str]:
        from cadlib.grammar import Limits, TextPrefix
        from vlm.generate import generate_batch

        tok = processor.tokenizer
        longest = max(len(tok.encode(s.target, add_special_tokens=False)) for s in self.samples)
        shortest = TextPrefix(Limits(bits=self.bits)).min_to_finish() + 1  # characters: a token holds one at least
        budget = self.max_new_tokens or max(int(longest * 1.5) + 16, shortest)
        was_training = model.training
        model.eval()
        out: list[str] = []
        try:
            for i in range(0, len(self.samples), self.batch):
                chunk = self.samples[i:i + self.batch]
                got = generate_batch(model, processor, [list(s.images) for s in chunk], [s.prompt for s in chunk],
                                     max_new_tokens=budget, constrained=True, limits=Limits(bits=self.bits))
                out += [g[0] for g in got]
        finally:
            tok.padding_side = "right"  # the training collator pads on the right
            model.train(was_training)
        return out

    def score(self, texts: list[str]) -> Summary:
        if self._pool is None:
            from cadlib.workers import WorkerPool

            self._pool = WorkerPool(self.workers)
        return summarize(score_many(self._pool, texts, [s.target for s in self.samples], self.bits))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class SelectionState:
    """The curve and the best weights, on disk under `<out>/selection` (survives a resume)."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir) / "selection"
        self.curve: list[IouPoint] = []
        self.best_step: int | None = None
        self.best_score: float | None = None
        self.stopped_early = False
        self.seconds = 0.0  # spent evaluating in this process
        path = self.dir / "curve.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.curve = data["curve"]
            if (self.dir / "best.safetensors").is_file():
                self.best_step, self.best_score = data["kept_step"], data["kept_score"]

    def since_best(self) -> int:
        """Evaluations after the best one."""
        if self.best_step is None:
            return len(self.curve)
        return sum(1 for p in self.curve if p["step"] > self.best_step)

    def save_best(self, model, step: int, score: float) -> None:
        from safetensors.torch import save_file

        self.dir.mkdir(parents=True, exist_ok=True)
        weights = {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if p.requires_grad}
        tmp = self.dir / "best.safetensors.tmp"
        save_file(weights, str(tmp))
        tmp.replace(self.dir / "best.safetensors")
        self.best_step, self.best_score = step, score

    def write(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.dir / "curve.json", json.dumps(self.record(), indent=1))

    def record(self) -> Selected:
        return {"curve": self.curve, "kept_step": self.best_step, "kept_score": self.best_score,
                "stopped_early": self.stopped_early, "seconds": round(self.seconds, 2), "rule": RULE}

    def restore_best(self, model) -> bool:
        """Loads the best weights back into `model`; False when there are none or they are the
        weights it has (the best was the last evaluation at the last step)."""
        import torch
        from safetensors.torch import load_file

        path = self.dir / "best.safetensors"
        if not path.is_file():
            return False
        weights = load_file(str(path))
        params = dict(model.named_parameters())
        missing = [n for n in weights if n not in params]
        if missing:
            raise ValueError(f"{path}: weights {missing[:3]} are not in the model; delete {self.dir} to start over")
        with torch.no_grad():
            for name, value in weights.items():
                params[name].copy_(value.to(params[name].device, params[name].dtype))
        return True


IOU_FLOOR = 0.05
IOU_VERDICT_RULE = (f"(selection by val IoU) {Verdict.CONVERGED}: the val score peaked before the last evaluation "
                    f"(the kept model is the peak); {Verdict.IMPROVING}: the last evaluation is the best (still "
                    f"rising); {Verdict.NOT_CONVERGING}: the best val score is under {IOU_FLOOR}")


def iou_verdict(selected: Selected) -> Verdict:
    """The verdict by `IOU_VERDICT_RULE`, read off the val IoU curve."""
    best = selected["kept_score"] or 0.0
    if best < IOU_FLOOR:
        return Verdict.NOT_CONVERGING
    if selected["curve"][-1]["step"] == selected["kept_step"]:
        return Verdict.IMPROVING
    return Verdict.CONVERGED


PointHook = Callable[[IouPoint], None]


def selection_callback(spec: SelectionSpec, evaluator: Evaluator, state: SelectionState, processor, *, clock=None,
                       writer=None, on_point: PointHook | None = None):
    """A `TrainerCallback` that evaluates every `spec.every_steps` steps or `spec.every_minutes`
    minutes of training (rank 0 decodes and scores; every rank agrees to stop), and once more at the
    end of training when the last evaluation was not at the last step. `clock` (a `vlm.budget.Clock`)
    is held for the time evaluations take; `writer` (a TensorBoard SummaryWriter) gets val/iou,
    val/score and val/invalid_ratio."""
    from transformers import TrainerCallback

    from vlm.distributed import agree_max, is_main

    class IouSelection(TrainerCallback):
        def __init__(self) -> None:
            self.t_train = 0.0  # training seconds (evaluations excluded)
            self.t_mark = 0.0
            self.last_eval_s = 0.0
            self.last_step = max((p["step"] for p in state.curve), default=0)

        def on_train_begin(self, args, state_, control, **kw):
            self.t_mark = time.monotonic()

        def _due(self, step: int) -> bool:
            """Every rank asks; they agree (the largest answer), so all evaluate or none does."""
            if step <= self.last_step:
                return False
            due = bool(spec.every_steps) and step - self.last_step >= (spec.every_steps or 0)
            due = due or bool(spec.every_minutes) and self.t_train - self.last_eval_s >= (spec.every_minutes or 0) * 60
            return bool(agree_max(float(due))[0])

        def _evaluate(self, trainer_state, model, processor) -> bool:
            """Evaluates; True when the run should stop (patience spent)."""
            t0 = time.monotonic()
            self.t_train += t0 - self.t_mark
            stop = False
            if is_main():
                summary = evaluator.score(evaluator.texts(model, processor))
                point: IouPoint = {"step": trainer_state.global_step, "epoch": round(trainer_state.epoch or 0.0, 4),
                                   "train_minutes": round(self.t_train / 60, 3), "score": summary["score"],
                                   "mean_iou": summary["mean_iou"], "median_iou": summary["median_iou"],
                                   "invalid_ratio": summary["invalid_ratio"], "n": summary["n"],
                                   "seconds": round(time.monotonic() - t0, 2)}
                state.curve.append(point)
                if state.best_score is None or point["score"] > state.best_score + spec.min_delta:
                    state.save_best(model, point["step"], point["score"])
                stop = bool(spec.patience) and state.since_best() >= spec.patience
                state.stopped_early = stop
                state.write()
                if writer is not None:
                    for name in ("score", "mean_iou", "invalid_ratio"):
                        if point[name] is not None:
                            writer.add_scalar(f"val/{name}", point[name], point["step"])
                    writer.flush()
                if on_point is not None:
                    on_point(point)
            (agreed,) = agree_max(float(stop))
            spent = time.monotonic() - t0
            state.seconds += spent
            if clock is not None:
                clock.hold(spent)
            self.last_eval_s = self.t_train
            self.last_step = trainer_state.global_step
            self.t_mark = time.monotonic()
            return bool(agreed)

        def on_step_end(self, args, state_, control, model=None, **kw):
            now = time.monotonic()
            self.t_train += now - self.t_mark
            self.t_mark = now
            if self._due(state_.global_step) and self._evaluate(state_, model, processor):
                control.should_training_stop = True
                control.should_save = True
            return control

        def on_train_end(self, args, state_, control, model=None, **kw):
            from cadlib.stop_request import stop_requested

            try:
                if not stop_requested() and state_.global_step > self.last_step:
                    self._evaluate(state_, model, processor)  # the end of the run is a candidate too
            finally:
                evaluator.close()

    return IouSelection()


def selection_for(spec: SelectionSpec, val: list[Sample], out_dir: str | Path, processor, *, clock=None, writer=None,
                  on_point: PointHook | None = None) -> tuple[SelectionState | None, object | None]:
    """(the state, the callback) of a run's selection, or (None, None) when the spec is off or there
    are no val samples to select by (said in a warning)."""
    if not spec.enabled:
        return None, None
    if not val:
        import logging

        logging.getLogger(__name__).warning("selection by IoU is off: %s has no val samples", out_dir)
        return None, None
    state = SelectionState(out_dir)
    evaluator = Evaluator(val_subset(val, spec.val_models), spec.workers)
    return state, selection_callback(spec, evaluator, state, processor, clock=clock, writer=writer, on_point=on_point)
