"""`swarmtui history`: not built yet (issue #4)."""

from swarmtui.errors import UserError


def run(args) -> int:
    raise UserError("'history' is not built yet (tracked in issue #4)", exit_code=1)
