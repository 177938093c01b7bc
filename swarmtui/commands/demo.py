"""`swarmtui demo`: not built yet (issue #5)."""

from swarmtui.errors import UserError


def run(args) -> int:
    raise UserError("'demo' is not built yet (tracked in issue #5)", exit_code=1)
