"""train/apart.py: `process --adapt` fine-tunes in a child process whose OpenMP threads spin, and that child behaves
like a call: its result, its exceptions, Ctrl-C and SIGTERM, as in the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamdeblur.errors import UserError
from streamdeblur.train.apart import spinning

ROOT = Path(__file__).resolve().parents[2]


# run in the child: module-level, so that it unpickles there by name
def where_it_ran() -> tuple[str | None, int]:
    return os.environ.get("OMP_WAIT_POLICY"), os.getpid()


def refuse(message: str) -> None:
    raise UserError(message)


def work_until_stopped(marker: str) -> None:
    """Says it started, then works until Ctrl-C or SIGTERM, which it answers as the trainer does (saves, stops)."""
    Path(marker).write_text(f"started {os.getpid()}")
    try:
        while True:
            time.sleep(0.05)
    except KeyboardInterrupt as exc:  # SIGTERM arrives as Terminated, a KeyboardInterrupt
        Path(marker).write_text(f"stopped {os.getpid()} {type(exc).__name__}")
        raise


def test_a_call_runs_where_openmp_threads_spin_and_returns_or_raises_as_here(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # as streamdeblur sets it for process (and pytest)
    policy, pid = spinning(where_it_ran)
    assert policy == "ACTIVE" and pid != os.getpid()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"  # this process's own environment as it was
    with pytest.raises(UserError, match="^no faces in it$"):
        spinning(refuse, "no faces in it")
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")  # spinning already (train, adapt): no child
    assert spinning(where_it_ran) == ("active", os.getpid())


SCRIPT = """
import signal, sys
sys.path.insert(0, {root!r})
from streamdeblur.errors import raise_terminated
from streamdeblur.train import apart
from tests.train.test_apart import work_until_stopped

signal.signal(signal.SIGTERM, raise_terminated)  # as the command line's main does
apart.GRACE_S = 0.5
try:
    apart.spinning(work_until_stopped, {marker!r})
except KeyboardInterrupt as exc:
    sys.exit(getattr(exc, "exit_code", 130))
"""


@pytest.mark.parametrize("sig, whom, code, seen", [
    (signal.SIGTERM, "parent", 143, "Terminated"),  # kill PID, a scheduler, timeout: passed on to the child
    (signal.SIGINT, "group", 130, "KeyboardInterrupt"),  # Ctrl-C in a terminal reaches both
    (signal.SIGINT, "parent", 130, "KeyboardInterrupt"),  # kill -INT PID: passed on after the grace time
])
def test_ctrl_c_and_sigterm_stop_the_child_as_they_would_stop_the_call(tmp_path, sig, whom, code, seen):
    marker = tmp_path / "marker"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(root=str(ROOT), marker=str(marker))], env=env,
                            start_new_session=True, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (marker.is_file() and marker.read_text().startswith("started")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.05)
        child = int(marker.read_text().split()[1])
        assert child != proc.pid
        if whom == "group":
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        assert proc.wait(30) == code
    finally:  # a failed test leaves neither process working on (the child loops until stopped)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert marker.read_text() == f"stopped {child} {seen}"
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # ended, and reaped


def test_a_script_without_a_main_guard_runs_once(tmp_path):
    """The child is a plain interpreter, not multiprocessing's spawn, which would run the caller's script again
    there (and with it the call: adapt() from a script without `if __name__ == "__main__"` trained twice)."""
    script, runs = tmp_path / "script.py", tmp_path / "runs"
    script.write_text(f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                      f"with open({str(runs)!r}, 'a') as f:\n    f.write('ran\\n')\n"
                      "from streamdeblur.train.apart import spinning\n"
                      "from tests.train.test_apart import where_it_ran\n"
                      "print(spinning(where_it_ran)[0])\n")
    done = subprocess.run([sys.executable, str(script)], env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ACTIVE\n" and runs.read_text() == "ran\n"
