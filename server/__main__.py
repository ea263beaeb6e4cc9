"""`python -m server`: parse settings, then serve until interrupted."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

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
    # After settings: a bad flag never loads the app.
    from server.admission import drain
    from server.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            log_level=settings.log_level, timeout_graceful_shutdown=5)
    DrainingServer(config, lambda: drain(app.state.admission, _engine_of(app),
                                         settings.drain_timeout_s)).run()


def _engine_of(app: Any) -> Any:
    service = getattr(app.state, "service", None)
    return None if service is None else service.engine


class DrainingServer(uvicorn.Server):
    """The first SIGTERM/SIGINT drains the server, then exits 0; a second one exits now.

    uvicorn alone stops listening at once (new clients get connection refused, not a
    503 a load balancer can act on) and re-raises the signal, so the exit code is not 0.
    """

    def __init__(self, config: uvicorn.Config,
                 drain: Callable[[], Coroutine[Any, Any, None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining: asyncio.Task[None] | None = None

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self._draining is not None or not self.started:
            super().handle_exit(sig, frame)
            return
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        if self._draining is None:
            self._draining = asyncio.ensure_future(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await self._drain()
        finally:
            self.should_exit = True


if __name__ == "__main__":
    main()
