"""Inbound messages: replies threaded to what we sent, and the STOP/START/HELP keywords."""
