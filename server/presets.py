"""Model presets: JSON files in launch/presets/ that fill settings under flags and env."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic_settings import InitSettingsSource, PydanticBaseSettingsSource

from server.settings import REPO_ROOT, Settings

PRESET_DIR = REPO_ROOT / "launch" / "presets"


class PresetError(ValueError):
    pass


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def preset_values(name: str, gpu: str | None) -> dict[str, Any]:
    """The settings of preset `name` for GPU type `gpu` (default: the preset's)."""
    path = PRESET_DIR / f"{name}.json"
    if not path.is_file():
        raise PresetError(f"--preset: no preset '{name}'; known: {', '.join(preset_names())}")
    preset = json.loads(path.read_text())
    gpu = gpu or preset["default_gpu"]
    if gpu not in preset["gpus"]:
        raise PresetError(f"--gpu: preset '{name}' has no settings for '{gpu}'; "
                          f"known: {', '.join(preset['gpus'])}")
    values = {**preset["settings"], **preset["gpus"][gpu]}
    if isinstance(values.get("model"), str) and not Path(values["model"]).is_absolute():
        values["model"] = str(REPO_ROOT / values["model"])
    return dict(values)


def settings_class(values: dict[str, Any]) -> type[Settings]:
    """Settings whose sources rank: flags, env vars, the preset, then defaults."""

    class PresetSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls, settings_cls: type[Any], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            preset = InitSettingsSource(settings_cls, init_kwargs=values)
            return init_settings, env_settings, dotenv_settings, preset, file_secret_settings

    return PresetSettings
