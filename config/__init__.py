"""Settings and presets."""

from config.settings import Settings, get_settings, load_settings, preset_path

__all__ = ["Settings", "get_settings", "load_settings", "preset_path"]
