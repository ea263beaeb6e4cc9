"""`python -m server`: parse settings, then serve until interrupted."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn
from pydantic import ValidationError
from pydantic_settings import SettingsError

from server.presets import preset_values, settings_class
from server.settings import Settings


def _flag(argv: list[str], name: str) -> str | None:
    """A flag's value before full parsing: the preset decides the other defaults."""
    value = os.environ.get(f"AHA_{name.upper()}")
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    return value


def load_settings(argv: list[str]) -> Settings:
    """Settings from flags, env and a preset; any problem exits with one line."""
    try:
        cls = Settings
        if preset := _flag(argv, "preset"):
            cls = settings_class(preset_values(preset, _flag(argv, "gpu")))
        return cls(_cli_parse_args=argv)  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = "--" + "-".join(str(p) for p in first["loc"]).replace("_", "-")
        _fail(f"{flag}: {str(first['msg']).removeprefix('Value error, ')}")
    except (SettingsError, ValueError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    raise AssertionError("unreachable")


def _fail(message: str) -> None:
    print(f"python -m server: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    settings = load_settings(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from server.app import create_app  # after settings: a bad flag never loads the app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level, timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
