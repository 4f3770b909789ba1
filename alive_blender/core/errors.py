"""Errors the user can act on, and the exit codes the CLI maps them to."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 3


class AliveError(Exception):
    """A problem with the user's input or environment, with what to do about it.

    ``str(err)`` is one line: the problem, then the hint.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class Cancelled(Exception):
    """The user (or a signal) stopped the job at a safe point."""

    exit_code = EXIT_CANCELLED

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)
