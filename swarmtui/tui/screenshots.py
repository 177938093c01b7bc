"""Write screenshots/main.svg, help.svg and confirm.svg from the frozen still picture.

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
    ("main.svg", (120, 40), ()),
    ("help.svg", (120, 40), ("question_mark",)),
    ("confirm.svg", (120, 40), ("l",)),
)


def _freeze_environment() -> None:
    os.environ["SWARMTUI_STATE_DIR"] = "/home/operator/.local/state/swarmtui"
    os.environ["SWARMTUI_CACHE_DIR"] = "/home/operator/.cache/swarmtui"
    os.environ["TZ"] = "UTC"
    os.environ.pop("NO_COLOR", None)
    time.tzset()


async def _shoot(out: Path, name: str, size: tuple[int, int], keys: tuple[str, ...]) -> Path:
    from swarmtui.tui.frozen import settle, still_app

    app = still_app()
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
    for name, size, keys in SHOTS:
        path = asyncio.run(_shoot(out, name, size, keys))
        print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
