"""Deployment definitions: names, the nightly schedule and the parameters it carries."""

from __future__ import annotations

from config import load_settings
from deployments.serve import build_deployments


def test_deployments_and_the_nightly_schedule():
    settings = load_settings("demo", schedule={"nightly_cron": "30 3 * * *", "preset": "deepcad_1k",
                                               "source": "files", "path": "/data/incoming"})
    deps = {f"{d.flow_name}/{d.name}": d for d in build_deployments(settings)}
    assert set(deps) == {"build-dataset/nightly", "build-dataset/on-demand", "train/on-demand", "evaluate/on-demand",
                         "reconstruct/on-demand"}
    nightly = deps["build-dataset/nightly"]
    (sched,) = nightly.schedules
    assert sched.schedule.cron == "30 3 * * *" and sched.active
    assert sched.parameters == {"preset": "deepcad_1k", "source": "files", "path": "/data/incoming"}
    assert not deps["train/on-demand"].schedules
    assert deps["build-dataset/on-demand"].entrypoint.endswith("build_dataset.py:build_dataset")


def test_prefect_yaml_matches_the_served_deployments():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2]
    spec = yaml.safe_load((root / "prefect.yaml").read_text())
    served = {(d.entrypoint.split("/")[-1], d.name) for d in build_deployments(load_settings("demo"))}
    declared = {(d["entrypoint"].split("/")[-1], d["name"]) for d in spec["deployments"]}
    assert declared == served
    for d in spec["deployments"]:
        module, fn = d["entrypoint"].split(":")
        assert (root / module).is_file() and fn in (root / module).read_text()
