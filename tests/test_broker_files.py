"""The embedded broker writes each message whole before a worker can see it: kombu's
file-system transport created the file and then wrote it, and a worker that took it in
between read nothing and died ("Unrecoverable error: JSONDecodeError", stopping `make run`;
a tester under load)."""

from __future__ import annotations

import os
import threading

from kombu import Connection


def test_a_message_appears_only_whole_under_its_queue_name(tmp_path, monkeypatch):
    """While a message is being written, no file a reader takes (its queue's name) is in the
    folder: kombu's own `_put` had created it, empty, before serialising the message."""
    from kombu.transport import filesystem
    from kombu.utils.json import dumps

    import labelapp.celery  # noqa: F401 - the app's import applies the change
    from labelapp import broker

    folder = tmp_path / "queue"
    folder.mkdir()
    visible_while_writing: list[list[str]] = []

    def watching_dumps(payload):
        visible_while_writing.append([n for n in os.listdir(folder) if not n.startswith(".")])
        return dumps(payload)

    monkeypatch.setattr(broker, "dumps", watching_dumps)
    monkeypatch.setattr(filesystem, "dumps", watching_dumps)
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    with Connection("filesystem://", transport_options=options) as conn:
        queue = conn.SimpleQueue("jobs")
        payload = {"clip": 1, "padding": "x" * 200_000}
        queue.put(payload)
        assert visible_while_writing == [[]]
        (name,) = os.listdir(folder)
        assert name.endswith(".jobs.msg")
        assert queue.get(timeout=5).payload == payload


def test_readers_never_meet_a_half_written_message(tmp_path):
    import labelapp.celery  # noqa: F401

    folder = tmp_path / "queue"
    folder.mkdir()
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    got, errors = [], []

    def read():
        with Connection("filesystem://", transport_options=options) as conn:
            queue = conn.SimpleQueue("jobs")
            try:
                while len(got) < 200:
                    got.append(queue.get(timeout=10).payload["n"])
            except Exception as exc:  # noqa: BLE001 - what the worker died of
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    with Connection("filesystem://", transport_options=options) as conn:
        queue = conn.SimpleQueue("jobs")
        for n in range(200):
            queue.put({"n": n, "padding": "x" * 50_000})
    reader.join(60)
    assert not errors, errors
    assert sorted(got) == list(range(200))
