"""A job's progress line from the command line (import_audio, import_labels)."""

from __future__ import annotations

from collections.abc import Callable


def job_progress(command, *, quiet: bool, every: int = 100) -> Callable[[object, str], None]:
    """`write(job, text)`, for a job row with `processed` and `total`: on a terminal one line
    redrawn in place; in a log, a line every `every` items and the last; nothing if `quiet`."""
    live = command.stderr.isatty()

    def write(job, text: str) -> None:
        last = job.processed == job.total
        if quiet or not (live or last or job.processed % every == 0):
            return
        command.stderr.write(
            f"{chr(13) if live else ''}{text}", ending="\n" if (last or not live) else ""
        )
        command.stderr.flush()

    return write
