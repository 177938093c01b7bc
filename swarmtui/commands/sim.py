"""`swarmtui sim`: not built yet (issue #2)."""

from swarmtui.errors import UserError


def run(args) -> int:
    raise UserError("'sim' is not built yet (tracked in issue #2)", exit_code=1)
