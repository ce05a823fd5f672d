"""Training in a process whose OpenMP threads spin, for commands whose own threads must not.

OpenMP reads OMP_WAIT_POLICY once, when torch loads it, and streamdeblur/__init__ chooses it per command: PASSIVE for
the video pipeline (busy-waiting threads starve its other stages), ACTIVE for training (a training step is many short
parallel regions, and sleeping threads wake late for each). `process --adapt` needs both, one after the other: it
fine-tunes first (adapt), then runs the pipeline. spinning() runs the fine-tuning in a child Python whose OpenMP starts
ACTIVE. What sleeping threads cost varies with the machine's moment (on this 2-core VM: 1.35-1.7x the time of
adapt's compiled steps in some runs, nothing in the runs right after); spinning ones were never slower, and the
child costs a few seconds to start (BENCHMARKS.md, session 60).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import traceback
from typing import Any, Callable

from streamdeblur.errors import Terminated, UserError, raise_terminated

# how long a child is given to stop on its own after Ctrl-C here (the terminal sends the signal to both) before it is
# sent one from here (a SIGINT sent to this process alone)
GRACE_S = 5.0


def spins() -> bool:
    """Whether this process's OpenMP threads busy-wait (OMP_WAIT_POLICY=ACTIVE, set before torch loaded it)."""
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == "ACTIVE"


def spinning(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs) where OpenMP threads spin: here when they do already, else in a child Python started with
    OMP_WAIT_POLICY=ACTIVE. Returns its result or raises its exception as a call here would (fn, its arguments, its
    result and its exceptions must pickle; fn must be importable by name). Ctrl-C and SIGTERM stop the child as they
    would stop the call here (the trainer saves its checkpoint first), and this returns only once the child has ended.

    A plain interpreter (`python -c`) and pipes rather than multiprocessing's spawn, which would run the caller's
    main script again in the child (a script calling adapt() without an `if __name__ == "__main__"` guard)."""
    if spins():
        return fn(*args, **kwargs)
    read_end, write_end = os.pipe()
    env = {**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}
    child = subprocess.Popen([sys.executable, "-c", f"from {__name__} import _child_main; _child_main({write_end})"],
                             stdin=subprocess.PIPE, pass_fds=(write_end,), env=env)
    os.close(write_end)  # the child holds the only writing end: a child that dies ends the read with nothing
    try:
        try:
            with child.stdin as call:  # the path first, so that the call's modules import there as here
                pickle.dump(sys.path, call)
                pickle.dump((_logging_setup(), fn, args, kwargs), call)
        except BrokenPipeError:  # the child ended before reading it: said below, with its exit code
            pass
        with os.fdopen(read_end, "rb") as answer:
            read_end = -1
            data = answer.read()
    except BaseException as exc:  # Ctrl-C or SIGTERM here while the child works: it stops, then this raises
        _stop(child, exc)
        raise
    finally:
        if read_end >= 0:
            os.close(read_end)
    child.wait()
    if not data:
        raise RuntimeError(f"the training process ended without a result (exit code {child.returncode})")
    kind, value = pickle.loads(data)
    if kind == "error":
        raise value
    return value


def _stop(child: subprocess.Popen, exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Terminated):
        try:
            child.wait(GRACE_S)  # Ctrl-C in a terminal reached the child too
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)
    else:
        child.terminate()  # SIGTERM (and any other failure here), which the child handles as this process would
    child.wait()


def _logging_setup() -> tuple[int, str] | None:
    """This process's streamdeblur log level and format, for the child (None when logging is not set up here)."""
    handler = next((h for h in logging.getLogger().handlers if h.formatter is not None), None)
    if handler is None:
        return None
    return logging.getLogger("streamdeblur").getEffectiveLevel(), handler.formatter._fmt or "%(message)s"


def _child_main(answer_fd: int) -> None:
    """The child: reads the call from stdin, makes it, writes ("ok", result) or ("error", exception) to answer_fd."""
    signal.signal(signal.SIGTERM, raise_terminated)  # unwinds like Ctrl-C (the trainer's own handler comes first)
    try:
        _answer(answer_fd)
    except BrokenPipeError:  # the caller is gone (a SIGTERM to the whole group stopped it first): nobody to tell
        pass


def _answer(answer_fd: int) -> None:
    with os.fdopen(answer_fd, "wb") as answer:
        sys.path[:] = pickle.load(sys.stdin.buffer)
        try:
            setup, fn, args, kwargs = pickle.load(sys.stdin.buffer)
            if setup is not None:
                logging.basicConfig(level=setup[0], format=setup[1], force=True)
            outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the caller
            if not isinstance(exc, (UserError, KeyboardInterrupt)):
                traceback.print_exc()  # a bug: its traceback where it happened
            outcome = ("error", exc)
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:  # noqa: BLE001 - a result or an exception that does not pickle
            data = pickle.dumps(("error", RuntimeError(f"the training process's outcome could not be sent back: "
                                                       f"{exc}")))
        answer.write(data)
