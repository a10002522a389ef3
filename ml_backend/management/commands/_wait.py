"""Waiting on a job row from the command line, with a progress line."""

from __future__ import annotations

import time


def wait_for_row(command, fetch, *, describe, done, timeout: float = 3600) -> object:
    started = time.monotonic()
    live = command.stderr.isatty()
    last = ""
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
            raise TimeoutError(f"still not finished after {timeout:.0f} s")
        time.sleep(0.5)
