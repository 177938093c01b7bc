"""`swarmtui panel`: not built yet (issue #5)."""

from swarmtui.errors import UserError


def run(args) -> int:
    raise UserError("'panel' is not built yet (tracked in issue #5)", exit_code=1)
