"""Selection by held-out IoU: a run that trains past its peak keeps the peak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.vlm.conftest import TARGETS
from vlm.collate import Sample
from vlm.selection import SelectionSpec, SelectionState, bits_of, summarize, val_subset


def test_the_score_counts_an_answer_that_does_not_build_as_zero():
    scores = [{"valid": True, "iou": 0.8, "cd": 1.0}, {"valid": False, "iou": None, "cd": None}]
    out = summarize(scores)
    assert out["mean_iou"] == 0.8 and out["score"] == 0.4 and out["invalid_ratio"] == 0.5


def test_the_val_subset_is_fixed_and_one_per_part():
    val = [Sample(("a.png",), "p", TARGETS[i % 2]) for i in range(6)]
    assert [s.target for s in val_subset(val, 5)] == [TARGETS[0], TARGETS[1]]
    assert val_subset(val, 1) == val_subset(val, 1) == [val[0]]
    assert bits_of(TARGETS[0]) == 8
    with pytest.raises(ValueError, match="bits N"):
        bits_of("sketch 1 2 3")


def test_answers_are_scored_in_order_and_one_that_overruns_is_invalid_not_waited_on():
    """The scoring pool is the supervised one: an answer whose build overruns the limit (an OCCT
    boolean that works for minutes) is killed and scored as not building; the run goes on."""
    from cadlib.workers import WorkerPool
    from vlm.selection import score_many

    pool = WorkerPool(2)
    try:
        got = score_many(pool, [TARGETS[0], "sketch nonsense", TARGETS[1]], [TARGETS[0], TARGETS[0], TARGETS[1]], 8)
        assert [s["valid"] for s in got] == [True, False, True]
        assert got[0]["iou"] == pytest.approx(1.0, abs=1e-6) and got[2]["iou"] == pytest.approx(1.0, abs=1e-6)
        slow = score_many(pool, [TARGETS[1]], [TARGETS[1]], 8, timeout=0.01)
        assert slow == [{"valid": False, "iou": None, "cd": None, "error": "timeout: Timeout: no result after 0.01 s"}]
    finally:
        pool.close()


@pytest.mark.slow
def test_a_run_trained_past_its_val_iou_peak_keeps_the_peak(tiny_model, tiny_dataset, tmp_path):
    """A curriculum (no shuffling): each epoch first teaches the val part's own answer (a box), then
    another part's (a cylinder) for every image. Evaluated at the end of each half, the val IoU peaks
    after a box half and falls after a cylinder half; the run ends on a cylinder half, far past the
    peak. The saved model must be the peak's: it decodes the box again."""
    from vlm.train import TrainSpec, run_training

    images = sorted(str(p) for p in (tiny_dataset / "images").glob("train_*.png"))[:8]
    prompt = "Write the construction sequence of this part."
    box, cylinder = TARGETS[0], TARGETS[1]
    half = [Sample((i,), prompt, box) for i in images] * 2, [Sample((i,), prompt, cylinder) for i in images] * 2
    train = half[0] + half[1]  # 32 samples: 4 steps of the box, then 4 of the cylinder
    val = [Sample((images[0],), prompt, box)]
    layout = tmp_path / "data"
    layout.mkdir()
    records = [{"id": f"{n}_{k}", "image": s.images[0], "conversations": [
        {"from": "human", "value": "<image>\n" + s.prompt}, {"from": "gpt", "value": s.target}]}
        for n, rows in (("train", train), ("val", val)) for k, s in enumerate(rows)]
    (layout / "train.json").write_text(json.dumps([r for r in records if r["id"].startswith("train")]))
    (layout / "val.json").write_text(json.dumps([r for r in records if r["id"].startswith("val")]))
    spec = TrainSpec(model=str(tiny_model), out_dir=str(tmp_path / "run"), mode="full", epochs=6, batch_size=4,
                     learning_rate=5e-3, scheduler="constant", shuffle=False, report_to=(),
                     selection=SelectionSpec(every_steps=4, val_models=1, patience=0, workers=1))
    report = run_training(spec, layout)
    sel = report["selection"]
    curve = sel["curve"]
    assert [p["step"] for p in curve] == list(range(4, 49, 4)), curve
    best = max(curve, key=lambda p: p["score"])
    assert sel["kept_step"] == best["step"] and sel["kept_score"] == best["score"]
    assert best["score"] >= 0.5, curve  # a box half taught the box (or near it)
    assert curve[-1]["score"] < best["score"] - 0.2, curve  # ... and the last half taught it away
    assert best["step"] < curve[-1]["step"] and report["verdict"] == "converged"
    from vlm.generate import load_trained
    from vlm.selection import Evaluator

    model, processor = load_trained(report["weights"])  # what was saved scores what the peak scored
    again = Evaluator(val, workers=1)
    assert again.score(again.texts(model, processor))["score"] == best["score"]
    again.close()
    on_disk = json.loads((Path(spec.out_dir) / "selection" / "curve.json").read_text())
    assert on_disk["kept_step"] == sel["kept_step"]
    assert SelectionState(spec.out_dir).best_step == sel["kept_step"]  # a resumed run finds it
