"""The append-only audit log, read through the API."""
