"""`swarmtui history [NODE_DIR] [--json]`: the node's restart history, newest first."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from swarmtui.errors import UserError


def run(args) -> int:
    from swarmtui.engine.history import HistoryStore, format_table

    node_dir = Path(args.node_dir).expanduser()
    store = HistoryStore(node_dir)
    if not store.exists():
        if not (node_dir / "run_rl_swarm.sh").is_file():
            raise UserError(f"no restart history for {node_dir} (and it is not an rl-swarm checkout: "
                            "no run_rl_swarm.sh)", exit_code=1)
        sys.stdout.write(f"no restarts recorded yet for {node_dir.resolve()}\n")
        return 0
    records = store.read()
    if args.json:
        # Oldest first, like the file itself: the last line is the latest record.
        for rec in records:
            sys.stdout.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
        return 0
    if not records:
        sys.stdout.write(f"no restarts recorded yet for {node_dir.resolve()}\n")
        return 0
    sys.stdout.write(f"restart history of {node_dir.resolve()} ({store.path}), newest first\n")
    sys.stdout.write(format_table(records) + "\n")
    return 0
