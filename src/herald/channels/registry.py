"""The explicit list of provider kinds. Adding a kind means adding one line here -- no folder scanning."""

from __future__ import annotations

from herald.channels import file, queue, webhook
from herald.channels.base import ProviderSpec
from herald.channels.email import smtp
from herald.channels.sms import clickatell, httpsms, smpp, twilio, vonage

SPECS: dict[str, ProviderSpec] = {spec.kind: spec for spec in (file.SPEC, smtp.SPEC, twilio.SPEC, vonage.SPEC,
                                                               clickatell.SPEC, httpsms.SPEC, smpp.SPEC,
                                                               queue.SPEC, webhook.SPEC)}


def get(kind: str) -> ProviderSpec | None:
    return SPECS.get(kind)
