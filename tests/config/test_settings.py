"""Settings: defaults, presets, environment overrides, validation."""

from __future__ import annotations

import pytest

from config import Settings, get_settings, preset_path


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    for key in list(__import__("os").environ):
        if key.startswith("CADRECON_"):
            monkeypatch.delenv(key)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_demo_preset_is_the_default():
    s = get_settings()
    assert s.preset == "demo" and s.dataset.shard_size == 50 and s.dataset.source == "synthetic" and s.sequence.bits == 8


def test_preset_and_nested_env_override(monkeypatch):
    monkeypatch.setenv("CADRECON_PRESET", "deepcad_10k")
    monkeypatch.setenv("CADRECON_DATASET__SHARD_SIZE", "64")
    monkeypatch.setenv("CADRECON_SEQUENCE__BITS", "10")
    s = get_settings()
    assert (s.dataset.train_size, s.dataset.val_size) == (10_000, 1_000)
    assert s.dataset.shard_size == 64 and s.sequence.bits == 10


def test_settings_are_cached():
    assert get_settings() is get_settings()


def test_unknown_preset_lists_the_known_ones(monkeypatch):
    monkeypatch.setenv("CADRECON_PRESET", "nope")
    with pytest.raises(ValueError, match=r"unknown preset 'nope'.*'demo'"):
        Settings()


def test_bad_values_are_rejected(monkeypatch):
    monkeypatch.setenv("CADRECON_RENDER__VIEWS", '["front", "bottom"]')
    with pytest.raises(ValueError, match="views"):
        Settings()


@pytest.mark.parametrize("name", ["demo", "deepcad_1k", "deepcad_10k", "deepcad_100k"])
def test_every_preset_validates(name, monkeypatch):
    monkeypatch.setenv("CADRECON_PRESET", name)
    assert preset_path(name).is_file()
    assert Settings().preset == name


def test_load_settings_takes_a_yaml_file_and_overrides(tmp_path, monkeypatch):
    from config import load_settings

    yml = tmp_path / "mine.yaml"
    yml.write_text("preset: mine\ndataset:\n  source: files\n  shard_size: 7\n")
    s = load_settings(yml, dataset={"path": str(tmp_path)})
    assert (s.preset, s.dataset.source, s.dataset.shard_size, s.dataset.path) == ("mine", "files", 7, tmp_path)
    assert load_settings("deepcad_1k").dataset.train_size == 1000
    monkeypatch.setenv("CADRECON_DATASET__SHARD_SIZE", "3")
    assert load_settings(yml).dataset.shard_size == 3  # the environment wins over the file
    with pytest.raises(ValueError, match="no such settings file"):
        load_settings(tmp_path / "missing.yaml")
