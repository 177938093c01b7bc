"""`swarmtui history [NODE_DIR] [--json]`: the node's restart history, newest first."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from swarmtui.errors import UserError
from swarmtui.node.text import sanitize, terminal_json


def run(args) -> int:
    from swarmtui.engine.history import HistoryStore, format_table

    node_dir = Path(args.node_dir).expanduser()
    store = HistoryStore(node_dir)
    if not store.exists():
        if not (node_dir / "run_rl_swarm.sh").is_file():
            raise UserError(f"no restart history for {node_dir} (and it is not an rl-swarm checkout: "
                            "no run_rl_swarm.sh)", exit_code=1)
        # With --json, stdout is data (one record a line) and no records is no lines: a sentence
        # there breaks `| jq`. The note goes to stderr.
        out = sys.stderr if args.json else sys.stdout
        out.write(sanitize(f"no restarts recorded yet for {node_dir.resolve()}") + "\n")
        return 0
    loaded = store.load()          # a symlink or FIFO there: UnsafeFileError, one line
    records = loaded.records
    if args.json:
        # Oldest first, like the file itself: the last line is the latest record. What was
        # skipped goes to stderr, so stdout stays one JSON object per line.
        for rec in records:
            sys.stdout.write(terminal_json(rec, separators=(",", ":")) + "\n")
        if not records:
            sys.stderr.write(sanitize(f"no restarts recorded yet for {node_dir.resolve()}") + "\n")
        _say_skipped(loaded, store.path, sys.stderr)
        return 0
    if not records:
        sys.stdout.write(sanitize(f"no restarts recorded yet for {node_dir.resolve()}") + "\n")
        _say_skipped(loaded, store.path, sys.stdout)
        return 0
    sys.stdout.write(sanitize(f"restart history of {node_dir.resolve()} ({store.path}), newest first") + "\n")
    # Field by field, before the table is laid out: the matched text is node output, and a
    # newline in it would otherwise survive as a forged row (and widths are measured clean).
    sys.stdout.write(format_table([clean_record(r) for r in records]) + "\n")
    _say_skipped(loaded, store.path, sys.stdout)
    return 0


def _say_skipped(loaded, path, out) -> None:
    """One line each for what the table leaves out, so a damaged file is never silently short."""
    if loaded.truncated:
        out.write(sanitize(f"{path} is very big: only its newest part was read") + "\n")
    if loaded.skipped:
        n = loaded.skipped
        out.write(sanitize(f"{n} line{'s' if n != 1 else ''} of {path} skipped: not a restart record "
                           "(cut short by a crash, or edited by hand)") + "\n")


def clean_record(value: Any) -> Any:
    """A history record with every string in it (keys too, at any depth) sanitized."""
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, dict):
        return {clean_record(k): clean_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_record(v) for v in value]
    return value
