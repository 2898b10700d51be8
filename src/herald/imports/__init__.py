"""CSV imports of contacts into lists."""
