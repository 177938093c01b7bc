"""The one exception type a command turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """Bad input from the person running swarmtui: shown as one line, never as a traceback."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
