"""What the panel needs from an engine: the Supervisor's public surface, as a Protocol.

The panel never imports the Supervisor itself; `swarmtui [NODE_DIR]` and `swarmtui demo` pass a
factory that builds one, and tests pass a recording engine with the same surface.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from swarmtui.engine.events import Command, Event

Emit = Callable[[Event], None]


class EngineLike(Protocol):
    layout: Any          # swarmtui.node.layout.Layout (root, era_label, identity_path, ...)
    state: str

    async def start(self) -> None: ...

    def send(self, cmd: Command) -> None: ...

    async def close(self, stop_node: bool = True, reason: str = "manual") -> None: ...

    def emergency_kill(self) -> None: ...


EngineFactory = Callable[[Emit], EngineLike]
