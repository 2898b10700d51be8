"""The scopes an API client can hold. A token carries the subset its client asked for."""

SCOPES = {
    "messages:send": "Send messages",
    "messages:read": "Read messages, their timelines and attempts",
    "providers:read": "Read provider configuration (never secrets)",
    "providers:write": "Create, change and delete providers",
    "templates:read": "Read and preview templates",
    "templates:write": "Create, edit and archive templates",
    "clients:write": "Create and revoke API clients",
    "contacts:read": "Read contacts, lists and imports",
    "contacts:write": "Create, change, import and erase contacts; manage lists and consent",
    "suppressions:read": "Read do-not-contact lists and suppressions",
    "suppressions:write": "Add and lift suppressions; manage do-not-contact lists",
    "audit:read": "Read the audit log",
    "campaigns:read": "Read campaigns, their progress, recipients and reports; dry-run them",
    "campaigns:write": "Create, change, start, pause, resume and stop campaigns",
    "events:write": "Send business events (they start, resume and end journeys)",
    "events:read": "Read event types and stored events",
    "event_types:write": "Create, change and delete event types",
    "triggers:read": "Read triggers, their statistics and journey runs",
    "triggers:write": "Create, change, activate and delete triggers",
    "keywords:read": "Read the workspace's own keywords and keyword answers",
    "keywords:write": "Add and remove keywords; set the answers to STOP, START and HELP",
    "queues:consume": "Pull a third-party system's communication-queue entries and acknowledge them",
}
ALL = tuple(SCOPES)
