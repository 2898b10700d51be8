"""Inbound provider webhooks. Every one is signature-checked before it is read."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Path, Request, Response

from herald import errors
from herald.channels.sms import twilio
from herald.deps import SessionDep, StateDep
from herald.inbound import keywords
from herald.inbound import service as inbound
from herald.messages import receipts
from herald.providers.models import Provider
from herald.providers.runtime import settings_for
from herald.queue import notify

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])


ProviderId = Annotated[str, Path(max_length=64)]
TwilioSignature = Annotated[str | None, Header(alias="X-Twilio-Signature")]
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def _twilio_form(request: Request, session: SessionDep, state: StateDep, provider_id: str,
                       signature: str | None) -> tuple[Provider, dict[str, str]]:
    """The provider and the posted form, once the signature proves Twilio sent it (403 otherwise)."""
    provider = await session.get(Provider, provider_id)
    if provider is None or provider.kind != "twilio":
        raise errors.NotFound("No Twilio provider with this id.", code="provider_not_found")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    # Twilio signs the URL it was given, i.e. our public URL, not the one this process sees behind a proxy.
    url = state.settings.effective_public_url + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    token = settings_for(provider, state.keyring).auth_token.get_secret_value()
    if not twilio.verify_signature(token, url, form, signature or ""):
        log.warning("webhook.bad_signature", provider_id=provider_id)
        raise errors.NotPermitted("The X-Twilio-Signature is missing or does not match.", code="bad_signature")
    return provider, form


@router.post("/twilio/{provider_id}/inbound", summary="Twilio incoming message (set as the number's webhook)",
             response_class=Response, responses={200: {"content": {"text/xml": {}}}})
async def twilio_inbound(request: Request, session: SessionDep, state: StateDep, provider_id: ProviderId,
                         signature: TwilioSignature = None) -> Response:
    """Stored once per MessageSid, threaded, and keywords acted on. Answers empty TwiML: replies go out as
    tracked messages through the pipeline, not as TwiML."""
    provider, form = await _twilio_form(request, session, state, provider_id, signature)
    sid, sender, to = form.get("MessageSid") or form.get("SmsSid"), form.get("From"), form.get("To")
    if not sid or not sender or not to:
        raise errors.Invalid("An inbound message needs MessageSid, From and To.", code="invalid_inbound")
    stored = await inbound.receive(session, provider, inbound.Inbound(sid, sender, to, form.get("Body") or ""),
                                   renderer=state.renderer)
    if stored is not None and stored.action == keywords.OPT_OUT:
        await notify.opt_out(session, stored.from_address)
        address = stored.from_address

        def after() -> None:  # committed: what this process's dispatcher holds must not go to this number
            state.opted_out(address)
            state.wake_dispatcher()

        request.state.after_commit = after
    elif stored is not None and stored.reply_id:
        request.state.after_commit = state.wake_dispatcher
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/twilio/{provider_id}/status", status_code=204, summary="Twilio delivery status callback")
async def twilio_status(request: Request, session: SessionDep, state: StateDep, provider_id: ProviderId,
                        signature: TwilioSignature = None) -> Response:
    provider, form = await _twilio_form(request, session, state, provider_id, signature)
    receipt = twilio.parse_status_callback(form)
    if receipt is None:
        return Response(status_code=204)
    mid = request.query_params.get("mid")
    if mid:
        receipt = dataclasses.replace(receipt, herald_message_id=mid)
    message = await receipts.find(session, provider.id, receipt)
    if message is None:
        log.info("webhook.unknown_message", provider_id=provider_id)
        return Response(status_code=204)
    if receipts.apply(session, message, receipt):
        await receipts.suppress(session, message, receipt)
    return Response(status_code=204)
