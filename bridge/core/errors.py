"""The one exception class for user mistakes: the CLI prints its message on one line and exits 2."""


class UserError(ValueError):
    """A mistake the user can fix (bad name, bad value, bad file): never shown as a traceback."""
