"""Contact lists and their members, with per-row fields and a priority flag."""
