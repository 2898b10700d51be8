"""An event's contact reference is read field by field (not through the model's dump, for speed): a field
added to the model must be read too."""

from __future__ import annotations

from herald.events.ingest import _REF_FIELDS
from herald.events.schemas import EventContact


def test_every_contact_field_of_an_event_is_read() -> None:
    assert set(EventContact.model_fields) == {"id", *_REF_FIELDS}
