"""Waiting on a job row from the command line, with a progress line."""

from __future__ import annotations

import time

from django.core.management.base import CommandError


def wait_for_row(
    command, fetch, *, describe, done, timeout: float = 3600, goes_on: str = ""
) -> object:
    """Poll `fetch()` until `done(row)`, writing `describe(row)` as a progress line. Ctrl-C
    or the timeout stops the waiting, not the job: the error says so (a bare traceback did,
    and the training went on unannounced), with `goes_on` (how to stop it) after."""
    started = time.monotonic()
    live = command.stderr.isatty()
    last = ""
    try:
        while True:
            row = fetch()
            line = describe(row)
            if line != last:
                command.stderr.write(("\r" if live else "") + line, ending="" if live else "\n")
                command.stderr.flush()
                last = line
            if done(row):
                if live:
                    command.stderr.write("")
                return row
            if time.monotonic() - started > timeout:
                raise CommandError(
                    f"stopped waiting after {timeout:.0f} s; the job goes on on the worker "
                    f"({last}){goes_on}"
                )
            time.sleep(0.5)
    except KeyboardInterrupt:
        if live:
            command.stderr.write("")
        raise CommandError(
            f"stopped waiting; the job goes on on the worker ({last}){goes_on}",
            returncode=130,  # as an interrupted command exits
        ) from None
