"""`swarmtui diagnose`: not built yet (issue #3)."""

from swarmtui.errors import UserError


def run(args) -> int:
    raise UserError("'diagnose' is not built yet (tracked in issue #3)", exit_code=1)
