"""Business events: their types (with optional payload schemas) and the events themselves."""
