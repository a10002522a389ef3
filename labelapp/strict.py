"""Input serializers that refuse what they do not take.

DRF drops keys a serializer does not declare, so a typo (`"segment"` for `"segments"`, `"nmae"`)
or a field that is set elsewhere answered 200 having changed nothing, or saved an annotation
without the part the client meant to send. Mixed in first, `StrictInput` makes such a key a 400
that names it and lists what the endpoint takes; a read-only field sent back is named as such.
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

# A description is a few paragraphs at most: a 2 MB one was accepted, and every page and API
# answer that shows the project or label carried it.
DESCRIPTION_MAX = 10_000


class StrictInput:
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            fields = self.fields
            writable = [name for name, field in fields.items() if not field.read_only]
            sent = set(data)
            read_only = sorted(sent & (set(fields) - set(writable)))
            unknown = sorted(sent - set(fields))
            problems = []
            if unknown:
                problems.append(f"unknown field(s) {', '.join(map(str, unknown))}")
            if read_only:
                problems.append(f"read-only field(s) {', '.join(read_only)} cannot be set here")
            if problems:
                raise serializers.ValidationError(
                    {
                        "non_field_errors": [
                            "; ".join(problems) + "; the fields taken are " + ", ".join(writable)
                        ]
                    }
                )
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """A CharField that takes text only: DRF's reads a number as its digits (an ontology
    import of `{"content": 5}` made a label "5")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def no_body(request) -> None:
    """For an endpoint that takes nothing (queue a training, hand out the next clip): a body
    with fields is a 400 naming them, as on the endpoints that take some. They were dropped,
    and `{"epochs": 3}` answered 201 as if per-run epochs had been honoured; `{"needs_
    adjudication": false}` set the flag it named to true."""
    data = request.data
    if not data:
        return
    names = sorted(map(str, data)) if isinstance(data, Mapping) else []
    what = f"field(s) {', '.join(names)}" if names else "a body"
    raise serializers.ValidationError(
        {"non_field_errors": [f"this endpoint takes no fields; got {what}"]}
    )
