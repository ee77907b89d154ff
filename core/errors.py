"""The one exception type whose message is meant for a person."""


class UserError(Exception):
    """Bad input or an unmet precondition, with a message that says what is wrong and what to do.

    The command line prints it as one `error: ...` line; pages show it in an error box.
    """


def first_line(exc: BaseException) -> str:
    """An exception in one line for a person: a UserError's own words, else its type and its first line."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return first if isinstance(exc, UserError) else f"{type(exc).__name__}: {first}".rstrip(": ")
