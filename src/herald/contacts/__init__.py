"""Contacts: the people Herald messages, their addresses, attributes and consent."""
