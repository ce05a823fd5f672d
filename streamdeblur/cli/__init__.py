"""Command line: parses options and calls one library function per subcommand. No logic here.

One module per group of subcommands (process, data, train, evaluate, tools); user mistakes surface as
UserError -> one line and its exit code (2; 1 for a failed output or an input that stopped early; 141 for a closed
stdout; 130 on Ctrl-C, 143 on SIGTERM).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from streamdeblur.errors import StdoutClosed, Terminated, UserError, raise_terminated
from streamdeblur.progress import setup_logging as _setup_logging  # noqa: F401 - the commands (and tests) call it

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Remove motion blur from faces in video: process, make-pairs, train, adapt, eval, bench, export, demo.",
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"streamdeblur: error: {message}", err=True)
    raise typer.Exit(code)


def check_writable_file(path: Path, option: str) -> None:
    """UserError now (before any work) when a side file cannot be written later."""
    import os

    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{option} {path} is a directory; give a file name")
    if parent.exists() and not parent.is_dir():
        raise UserError(f"{option} {path}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise UserError(f"{option}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"{option}: cannot write {path} (permission denied)")


def dataclass_option(cls: type, name: str, *flags: str, **more: Any) -> typer.models.OptionInfo:
    """A typer option whose default and help come from a library options dataclass (declared there once); more:
    typer.Option's other arguments (metavar, ...)."""
    from dataclasses import MISSING, fields

    f = next(f for f in fields(cls) if f.name == name)
    default = f.default if f.default is not MISSING else None
    if isinstance(default, bool) and not flags:
        flags = (f"--{name.replace('_', '-')}",)
    return typer.Option(default, *flags, help=f.metadata.get("help", ""), **more)


def _model_names() -> list[str]:
    """Registered model names, for help texts (the registry is the one list)."""
    from streamdeblur.models import list_models

    return list_models()


def _stage_names() -> list[str]:
    from streamdeblur.train.stages import STAGES

    return list(STAGES)




_SIGTERM_SEEN: list[bool] = []


def _raise_terminated(signum: int, frame: object) -> None:
    _SIGTERM_SEEN.append(True)
    raise_terminated(signum, frame)


def _exit_terminated() -> None:
    typer.echo("streamdeblur: terminated (SIGTERM)", err=True)
    sys.exit(Terminated.exit_code)


def _from_interrupt(exc: BaseException, kind: type[BaseException] = KeyboardInterrupt) -> bool:
    """Whether an exception was raised while handling a KeyboardInterrupt (typer's Exit(130) from Ctrl-C), or
    the given kind of it (Terminated: a batch stopped by SIGTERM)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        if isinstance(item, kind):
            return True
        seen.add(id(item))
        todo += [item.__cause__, item.__context__]
    return False


def main() -> None:
    """Entry point: run the app, turning UserError into one line on stderr and exit code 2."""
    import signal

    # SIGTERM unwinds like Ctrl-C (without this the interpreter dies at once, leaving make-pairs' pool workers to
    # print tracebacks into the terminal when they find their parent gone)
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        app()
    except StdoutClosed:
        import os

        # the reader of our stdout is gone: stop quietly (exit 141, as a Unix tool killed by SIGPIPE reports),
        # and point stdout at /dev/null so the interpreter's final flush does not complain
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(StdoutClosed.exit_code)
    except UserError as exc:
        typer.echo(f"streamdeblur: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        # typer turns an interruption into exit 130 itself, silently; one that SIGTERM raised exits 143 and says so
        if exc.code == 130 and (_SIGTERM_SEEN or _from_interrupt(exc, Terminated)):
            _exit_terminated()
        if exc.code == 130 and _from_interrupt(exc):
            typer.echo("streamdeblur: interrupted", err=True)
        raise
    except OSError as exc:
        # the file system refused something the checks before the work could not foresee (disk full, a read-only
        # mount, a path that changed meanwhile): one line, as for a failed output
        where = f" {exc.filename}" if exc.filename else ""
        typer.echo(f"streamdeblur: error: cannot use{where}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        if _SIGTERM_SEEN or isinstance(exc, Terminated):
            _exit_terminated()
        typer.echo("streamdeblur: interrupted", err=True)
        sys.exit(130)


# the subcommands register themselves on `app`
from streamdeblur.cli import process, data, training, evaluate, tools  # noqa: E402,F401,I001 - help order
from streamdeblur.cli.training import train  # noqa: E402,F401 - tests read its defaults
