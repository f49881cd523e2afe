"""The one exception type that means "the user's input is wrong"."""


class UserError(Exception):
    """Bad input (spec, data file, run folder, option): reported as one line, exit status 2."""
