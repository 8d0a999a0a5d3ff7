"""Errors a user can act on. The CLI prints them as one line, without a traceback."""


class UserError(Exception):
    """Bad input or an environment problem the user can fix; the message says how."""

    exit_code = 2


class MissingExtra(UserError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed; install it with: pip install 'tee-llm-prof[{extra}]'"
        )
