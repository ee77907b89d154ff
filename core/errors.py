"""The one exception type whose message is meant for a person."""


class UserError(Exception):
    """Bad input or an unmet precondition, with a message that says what is wrong and what to do.

    The command line prints it as one `error: ...` line; pages show it in an error box.
    """
