"""Message templates: Liquid sources per channel and locale, prepared at save and rendered per recipient."""
