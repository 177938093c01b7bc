"""Write screenshots/*.svg (the panel, help, a confirmation, a restart record, the needs-you
box, a 200-column terminal) from the frozen still picture.

    python -m swarmtui.tui.screenshots [OUT_DIR]      (default: ./screenshots)

The data, clock, host, paths and time zone are fixed (swarmtui.tui.frozen), so two runs give the
same files; rerun after a visible change and commit the result."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

SHOTS = (
    # name, size, keys pressed, the frozen events (swarmtui.tui.frozen) it shows
    ("main.svg", (120, 40), (), "busy_events"),
    ("help.svg", (120, 40), ("question_mark",), "busy_events"),
    ("confirm.svg", (120, 40), ("l",), "busy_events"),
    ("record.svg", (120, 40), ("tab", "tab", "enter"), "busy_events"),
    ("needs-you.svg", (80, 24), (), "needs_you_events"),
    ("wide.svg", (200, 60), (), "busy_events"),
)


def _freeze_environment() -> None:
    os.environ["SWARMTUI_STATE_DIR"] = "/home/operator/.local/state/swarmtui"
    os.environ["SWARMTUI_CACHE_DIR"] = "/home/operator/.cache/swarmtui"
    os.environ["TZ"] = "UTC"
    os.environ.pop("NO_COLOR", None)
    time.tzset()


async def _shoot(out: Path, name: str, size: tuple[int, int], keys: tuple[str, ...], events: str) -> Path:
    from swarmtui.tui import frozen
    from swarmtui.tui.frozen import settle, still_app

    app = still_app(getattr(frozen, events))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
        await pilot.pause(0.1)
        await pilot.pause()
        app.save_screenshot(filename=name, path=str(out))
    return out / name


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path("screenshots")
    out.mkdir(parents=True, exist_ok=True)
    _freeze_environment()
    for name, size, keys, events in SHOTS:
        path = asyncio.run(_shoot(out, name, size, keys, events))
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
