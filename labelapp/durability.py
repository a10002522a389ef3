"""Writes that may skip waiting for the disk.

PostgreSQL makes every commit wait until its WAL is flushed to disk (`synchronous_commit`).
For rows that can be recomputed, such as the predictions and priorities the ML worker writes
by the hundred thousand, that wait buys nothing and costs everyone: the flushes queue behind
each other, annotators' submissions included. With `synchronous_commit` off a commit returns
at once and the WAL writer flushes it within a fraction of a second; a crash of PostgreSQL in
that window loses those last commits, never corrupts anything, and never touches the
transactions that kept the setting on (annotations, locks, jobs' states).
"""

from __future__ import annotations

import contextlib
import logging

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

# For one statement run in autocommit: an uncorrelated subquery PostgreSQL evaluates once,
# before the row is written, so the statement's own transaction commits without the wait.
PG_STATEMENT_WITHOUT_FLUSH_WAIT = "(SELECT set_config('synchronous_commit', 'off', true)) = 'off'"


@contextlib.contextmanager
def recomputable_writes():
    """Inside: this connection's commits do not wait for the disk (PostgreSQL; elsewhere a
    no-op). Only for rows a rerun would write again. A session setting: behind a pooler in
    transaction mode (PgBouncer) it could outlive the block on a shared server connection, so
    such a deployment should give the worker a direct connection."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            # A broken connection takes its settings with it; never reuse one that may
            # still have the setting off.
            logger.warning("could not reset synchronous_commit; closing the connection")
            connection.close()
