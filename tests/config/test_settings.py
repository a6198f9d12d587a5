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
    assert s.preset == "demo" and s.dataset.shard_size == 16 and s.sequence.bits == 8


def test_preset_and_nested_env_override(monkeypatch):
    monkeypatch.setenv("CADRECON_PRESET", "10k")
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


@pytest.mark.parametrize("name", ["demo", "1k", "10k", "100k"])
def test_every_preset_validates(name, monkeypatch):
    monkeypatch.setenv("CADRECON_PRESET", name)
    assert preset_path(name).is_file()
    assert Settings().preset == name
