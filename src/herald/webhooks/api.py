"""Inbound provider webhooks (Twilio, Vonage): delivery receipts and incoming SMS. Every one is authenticated
(signature-checked) before it is read."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Path, Request, Response

from herald import errors
from herald.auth.models import Workspace
from herald.channels.base import Receipt
from herald.channels.sms import twilio, vonage
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


async def receive_reply(request: Request, session: SessionDep, state: StateDep, provider: Provider,
                         message: inbound.Inbound) -> None:
    """Store and act on an inbound SMS, whichever provider brought it. An opt-out also tells the workers at
    commit (so a message they already hold for this number does not go out) and the keyword answer wakes the
    dispatcher; a retried webhook (same provider message id) does nothing."""
    stored = await inbound.receive(session, provider, message, renderer=state.renderer)
    if stored is not None and stored.action == keywords.OPT_OUT:
        await notify.opt_out(session, stored.from_address)
        address = stored.from_address

        def after() -> None:  # committed: what this process's dispatcher holds must not go to this number
            state.opted_out(address)
            state.wake_dispatcher()

        request.state.after_commit = after
    elif stored is not None and stored.reply_id:
        request.state.after_commit = state.wake_dispatcher


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
    await receive_reply(request, session, state, provider, inbound.Inbound(sid, sender, to, form.get("Body") or ""))
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
    await apply_receipt(session, provider, receipt)
    return Response(status_code=204)


async def apply_receipt(session: SessionDep, provider: Provider, receipt: Receipt) -> None:
    """Move the message the receipt is about forward (never back), suppressing the address on a hard bounce;
    a receipt for a message we do not know (another system's, a later part of a long SMS) is dropped."""
    message = await receipts.find(session, provider.id, receipt)
    if message is None:
        log.info("webhook.unknown_message", provider_id=provider.id)
        return
    if receipts.apply(session, message, receipt):
        await receipts.suppress(session, message, receipt)


async def _vonage_params(request: Request, session: SessionDep, state: StateDep, provider_id: str
                         ) -> tuple[Provider, dict[str, str]]:
    """The provider and the webhook's parameters (the query string, and a POSTed form or JSON object), once they
    prove they come from its Vonage account: the ``sig`` when the provider has a signature secret, else the
    ``api-key`` (403 otherwise; see :mod:`herald.channels.sms.vonage`)."""
    provider = await session.get(Provider, provider_id)
    if provider is None or provider.kind != "vonage":
        raise errors.NotFound("No Vonage provider with this id.", code="provider_not_found")
    params = dict(request.query_params)
    if request.method == "POST":
        params.update(as_text(await posted(request)))
    if not vonage.authenticate(settings_for(provider, state.keyring), params):
        log.warning("webhook.bad_signature", provider_id=provider_id)
        raise errors.NotPermitted("The webhook's sig (or, without a signature secret, its api-key) is missing or "
                                  "does not match.", code="bad_signature")
    return provider, params


async def posted(request: Request) -> dict[str, Any]:
    """A POST body's fields: a form (text values), or a JSON object (values as sent), for the providers whose
    webhooks post either."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise errors.Invalid("The webhook body is not valid JSON.", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise errors.Invalid("The webhook body must be a JSON object.", code="invalid_json")
    return {str(k): v for k, v in body.items()}


def as_text(fields: dict[str, Any]) -> dict[str, str]:
    """Flat fields as text (numbers and booleans as JSON text); nested values are dropped."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()
            if isinstance(v, str | int | float | bool)}


@router.get("/vonage/{provider_id}/status", status_code=204, summary="Vonage delivery receipt (GET query)")
@router.post("/vonage/{provider_id}/status", status_code=204, summary="Vonage delivery receipt (POST form or JSON)")
async def vonage_status(request: Request, session: SessionDep, state: StateDep, provider_id: ProviderId) -> Response:
    """Sent as each message's ``callback`` (or set as the account's delivery receipt URL). Answers 204 at once,
    also for intermediate states (accepted, buffered) and for receipts of a long message's later parts."""
    provider, params = await _vonage_params(request, session, state, provider_id)
    receipt = vonage.parse_delivery_receipt(params)
    if receipt is not None:
        await apply_receipt(session, provider, receipt)
    return Response(status_code=204)


@router.get("/vonage/{provider_id}/inbound", status_code=204, summary="Vonage incoming SMS (GET query)")
@router.post("/vonage/{provider_id}/inbound", status_code=204, summary="Vonage incoming SMS (POST form or JSON)")
async def vonage_inbound(request: Request, session: SessionDep, state: StateDep, provider_id: ProviderId
                         ) -> Response:
    """Set as the number's inbound webhook. Stored once per messageId, threaded, and keywords acted on, like
    Twilio's; numbers arrive without their ``+`` and are stored in E.164. Answers 204: without a 200 or 204
    Vonage resends the message for 24 hours."""
    provider, params = await _vonage_params(request, session, state, provider_id)
    sms = vonage.parse_inbound(params)
    if sms is None:
        raise errors.Invalid("An inbound message needs messageId, msisdn and to.", code="invalid_inbound")
    workspace = await session.get(Workspace, provider.workspace_id)
    region = workspace.default_region if workspace is not None else "US"
    message = inbound.Inbound(sms.message_id, vonage.to_e164(sms.sender, region), vonage.to_e164(sms.to, region),
                              sms.text)
    await receive_reply(request, session, state, provider, message)
    return Response(status_code=204)
