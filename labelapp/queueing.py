"""Sending work to the workers without letting a broker outage fail a request.

Every message only says "look at row N" (a pending clip, a queued training or pre-labeling,
a pending export), and the row is committed before the message is sent. When the broker is
down the send fails *after* the user's data is saved, so raising would turn a success into
a 500. Instead the failure is logged and the row stays pending: the periodic sweeps run by
`celery -A labelapp beat` (CELERY_BEAT_SCHEDULE) send it again once the broker is back.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# A web request should not hang on a dead broker: fail fast, the sweep is the retry.
PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}


def enqueue(task, *args, **kwargs) -> bool:
    """Send `task(*args, **kwargs)` to the broker; False (logged) when the broker refused."""
    try:
        task.apply_async(
            args=args,
            kwargs=kwargs,
            retry=True,
            retry_policy=getattr(settings, "EARMARK_PUBLISH_RETRY_POLICY", PUBLISH_RETRY_POLICY),
        )
    except Exception as exc:
        # Broad on purpose: kombu, redis-py and the socket layer each raise their own types,
        # and none of them may undo a committed write. The sweep re-sends the row's work.
        logger.warning(
            "could not enqueue %s%r (the periodic sweep will send it again): %s: %s",
            getattr(task, "name", task),
            args,
            type(exc).__name__,
            exc,
        )
        return False
    return True


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send `task` once the current transaction has committed (at once outside of one)."""
    transaction.on_commit(lambda: enqueue(task, *args, **kwargs), robust=True)
