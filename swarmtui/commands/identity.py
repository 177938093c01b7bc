"""`swarmtui identity`: not built yet (issue #3)."""

from swarmtui.errors import UserError


def run(args) -> int:
    raise UserError("'identity' is not built yet (tracked in issue #3)", exit_code=1)
