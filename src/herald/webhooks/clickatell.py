"""Clickatell webhooks: status callbacks and reply (inbound SMS) callbacks.

Clickatell does not sign its callbacks, so each one must carry the provider's ``webhook_token`` as
``?token=...`` in the URL configured on the integration; a missing or wrong token is refused with 403
``bad_signature`` before the body is read (see :mod:`herald.channels.sms.clickatell`). Receipts and replies then
go through the same helpers as Twilio's and Vonage's, so a receipt only moves a message forward and a reply is
stored once per id with STOP/START/HELP handled identically.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Request, Response

from herald import errors
from herald.auth.models import Workspace
from herald.channels.sms import clickatell
from herald.channels.sms.vonage import to_e164
from herald.deps import SessionDep, StateDep
from herald.inbound import service as inbound
from herald.providers.models import Provider
from herald.providers.runtime import settings_for
from herald.webhooks.api import ProviderId, apply_receipt, posted, receive_reply

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/webhooks/clickatell", tags=["webhooks"])


async def _callback(request: Request, session: SessionDep, state: StateDep, provider_id: str
                    ) -> tuple[Provider, dict[str, Any]]:
    """The provider and the callback's fields (the query string without ``token``, and a POSTed JSON object or
    form), once its token proves it was configured by us (404 for an unknown provider, 403 otherwise)."""
    provider = await session.get(Provider, provider_id)
    if provider is None or provider.kind != "clickatell":
        raise errors.NotFound("No Clickatell provider with this id.", code="provider_not_found")
    if not clickatell.authenticate(settings_for(provider, state.keyring), request.query_params.get("token")):
        log.warning("webhook.bad_signature", provider_id=provider_id)
        raise errors.NotPermitted("The callback URL's token is missing or does not match.", code="bad_signature")
    body: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "token"}
    if request.method == "POST":
        body.update(await posted(request))
    return provider, body


@router.get("/{provider_id}/status", status_code=204, summary="Clickatell status callback (GET query)")
@router.post("/{provider_id}/status", status_code=204, summary="Clickatell status callback (POST JSON or form)")
async def clickatell_status(request: Request, session: SessionDep, state: StateDep, provider_id: ProviderId
                            ) -> Response:
    """Set as the integration's status callback URL, with ``?token=``. Answers 204 at once, also for
    statuses that are not final and for messages Herald does not know."""
    provider, body = await _callback(request, session, state, provider_id)
    for receipt in clickatell.parse_status_callback(body):
        await apply_receipt(session, provider, receipt)
    return Response(status_code=204)


@router.get("/{provider_id}/inbound", status_code=204, summary="Clickatell reply callback (GET query)")
@router.post("/{provider_id}/inbound", status_code=204, summary="Clickatell reply callback (POST JSON or form)")
async def clickatell_inbound(request: Request, session: SessionDep, state: StateDep, provider_id: ProviderId
                             ) -> Response:
    """Set as the integration's reply callback URL, with ``?token=``. Stored once per reply id, threaded, and
    keywords acted on like Twilio's and Vonage's; numbers arrive without their ``+`` and are stored in E.164."""
    provider, body = await _callback(request, session, state, provider_id)
    replies = clickatell.parse_inbound(body)
    if replies is None:
        raise errors.Invalid("A reply needs replyMessageId (or messageId), fromNumber and toNumber.",
                             code="invalid_inbound")
    workspace = await session.get(Workspace, provider.workspace_id)
    region = workspace.default_region if workspace is not None else "US"
    for sms in replies:
        message = inbound.Inbound(sms.message_id, to_e164(sms.sender, region), to_e164(sms.to, region), sms.text)
        await receive_reply(request, session, state, provider, message)
    return Response(status_code=204)
