"""Errors that are the user's to fix: the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """A problem with the user's input, options or environment (never a bug): shown without a traceback."""

    exit_code = 2


class MissingWeightsError(UserError):
    """A model has no trained weights on this machine."""


class MissingDependencyError(UserError):
    """An optional package or model file needed by the chosen feature is absent."""


class OutputError(UserError):
    """The output could not be written (disk full, device gone, encoder failure): one line, exit code 1.
    Nothing is left under the output's name but a complete file or what was there before."""

    exit_code = 1


class StdoutClosed(Exception):
    """The reader of our stdout went away (e.g. `| head -c 1000`): end quietly, as Unix tools do (exit 141)."""

    exit_code = 141


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, `timeout`, `kill`): unwinds like Ctrl-C, so worker pools are stopped and partial outputs
    removed, then exits 143 (128 + SIGTERM) as a process killed by it would report. Commands with a signal handler of
    their own (`process`, `train`) finish their work first, as they do on Ctrl-C."""

    exit_code = 143


def raise_terminated(signum: int, frame: object) -> None:
    """A SIGTERM handler: raise Terminated (signal.signal(signal.SIGTERM, raise_terminated))."""
    raise Terminated


def short_reason(exc: BaseException) -> str:
    """'RuntimeError: PytorchStreamReader failed reading zip archive': an exception in a few words, for a one-line
    message about a file that cannot be read (a damaged checkpoint, pairs shard or engine)."""
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    text = text.split(": ")[0].split(". ")[0][:80]
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
