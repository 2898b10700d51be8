"""Inbound SMS for generic HTTP gateways (kind ``http``): ``POST /webhooks/http/<provider id>/inbound``.

A generic gateway signs nothing, so the URL carries a per-provider secret: the provider's ``webhook_token``,
given as ``?token=`` and compared in constant time; missing or wrong (or no ``webhook_token`` configured, which
leaves inbound off) answers 403. The body is a form or a JSON object, its field names configured on the
provider (``from``, ``to``, ``text``, ``id`` by default). The message goes through the same
:func:`herald.webhooks.api.receive_reply` as Twilio's and Vonage's, so STOP/HELP handling is identical and a
retried call (same gateway id) is stored once.

Delivery receipts are not handled: each gateway reports them its own way (if at all), with no standard to map
onto Herald's states, so an ``http`` provider's messages stay ``sent``.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Query, Request, Response

from herald import errors
from herald.auth.models import Workspace
from herald.channels.sms.httpsms import HttpSmsSettings
from herald.channels.sms.vonage import to_e164
from herald.crypto import same_secret
from herald.deps import SessionDep, StateDep
from herald.inbound import service as inbound
from herald.providers.models import Provider
from herald.providers.runtime import settings_for
from herald.webhooks.api import as_text, posted, receive_reply

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])

ProviderId = Annotated[str, Path(max_length=64)]
Token = Annotated[str | None, Query(max_length=512)]


def token_matches(settings: HttpSmsSettings, given: str | None) -> bool:
    """Whether ``given`` is the provider's webhook token (constant-time); False when either is missing."""
    return same_secret(given, settings.webhook_token.get_secret_value() if settings.webhook_token else None)


@router.post("/http/{provider_id}/inbound", status_code=204, summary="Generic HTTP gateway incoming SMS")
async def http_inbound(request: Request, session: SessionDep, state: StateDep, provider_id: ProviderId,
                       token: Token = None) -> Response:
    """Set ``<public url>/webhooks/http/<provider id>/inbound?token=<webhook_token>`` as the gateway's inbound
    URL. Stored once per gateway message id, threaded, keywords acted on; numbers stored in E.164."""
    provider = await session.get(Provider, provider_id)
    if provider is None or provider.kind != "http":
        raise errors.NotFound("No http provider with this id.", code="provider_not_found")
    settings: HttpSmsSettings = settings_for(provider, state.keyring)
    if not token_matches(settings, token):
        log.warning("webhook.bad_signature", provider_id=provider_id)
        raise errors.NotPermitted("The token is missing or does not match the provider's webhook_token.",
                                  code="bad_signature")
    fields = as_text(await posted(request))
    names = (settings.inbound_id_field, settings.inbound_from_field, settings.inbound_to_field)
    message_id, sender, to = ((fields.get(name) or "").strip() for name in names)
    if not message_id or not sender or not to:
        raise errors.Invalid(f"An inbound message needs {', '.join(names)}.", code="invalid_inbound")
    workspace = await session.get(Workspace, provider.workspace_id)
    region = workspace.default_region if workspace is not None else "US"
    message = inbound.Inbound(message_id[:200], to_e164(sender, region), to_e164(to, region),
                              fields.get(settings.inbound_text_field) or "")
    await receive_reply(request, session, state, provider, message)
    return Response(status_code=204)
