"""What every command shows on stderr: its log lines ("streamdeblur: ...", setup_logging), and the one progress bar
of every long command (process, batch, make-pairs, train, eval): rich, with elapsed time and ETA, drawn only on a
terminal and started at the first update (so an error that comes first prints alone)."""

from __future__ import annotations

from typing import Any, Callable, Iterator
from contextlib import contextmanager


def setup_logging(quiet: bool) -> None:
    """Log lines as "streamdeblur: MESSAGE" on stderr, INFO and up (WARNING and up when quiet)."""
    import logging

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="streamdeblur: %(message)s",
                        force=True)


class Bar:
    """bar.update(completed, total=None, **fields): `text` is shown after the counter, formatted with the fields."""

    def __init__(self, label: str, text: str = "", enabled: bool = True, console: Any = None) -> None:
        from rich.console import Console

        self.label, self.text = label, text
        self.console = console or Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self._progress: Any = None
        self._task: Any = None

    def update(self, completed: int, total: int | None = None, **fields: Any) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            columns = [TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn()]
            if self.text:
                columns.append(TextColumn(self.text))
            columns += [TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
            self._progress = Progress(*columns, console=self.console)
            self._task = self._progress.add_task(self.label, total=total, **fields)
            self._progress.start()
        self._progress.update(self._task, completed=completed, total=total, **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def task_bars(enabled: bool) -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    """For commands made of several stages: yields task(description, total) -> advance(n), one bar per task."""
    from rich.console import Console

    console = Console(stderr=True)
    if not (enabled and console.is_terminal):
        yield lambda description, total=None: (lambda n=1: None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bars:

        def task(description: str, total: int | None = None) -> Callable[[int], None]:
            tid = bars.add_task(description, total=total)
            return lambda n=1: bars.advance(tid, n)

        yield task
