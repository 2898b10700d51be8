"""Triggers: event-driven journeys."""
