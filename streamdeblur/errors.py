"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """A problem with the user's input, options or environment (never a bug): shown without a traceback."""

    exit_code = 2


class MissingWeightsError(UserError):
    """A model has no trained weights on this machine."""


class MissingDependencyError(UserError):
    """An optional package or model file needed by the chosen feature is absent."""
