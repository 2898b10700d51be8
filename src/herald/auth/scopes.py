"""The scopes an API client can hold. A token carries the subset its client asked for."""

SCOPES = {
    "messages:send": "Send messages",
    "messages:read": "Read messages, their timelines and attempts",
    "providers:read": "Read provider configuration (never secrets)",
    "providers:write": "Create, change and delete providers",
    "templates:read": "Read and preview templates",
    "templates:write": "Create, edit and archive templates",
    "clients:write": "Create and revoke API clients",
}
ALL = tuple(SCOPES)
