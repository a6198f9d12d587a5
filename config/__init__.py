"""Settings and presets."""

from config.settings import Settings, deep_merge, get_settings, load_settings, preset_path

__all__ = ["Settings", "deep_merge", "get_settings", "load_settings", "preset_path"]
