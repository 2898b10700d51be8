"""A generic HTTP SMS gateway (kind ``http``): for the many local aggregators that each have a small API of
their own -- one request per message, fields named their way, "OK" said their way.

The request is configured, not coded: ``url``, ``method`` (POST or GET), ``headers``, ``auth`` and a ``body``
(form or JSON) or ``query`` whose values are Liquid templates, rendered with Herald's sandboxed
:class:`~herald.templates.liquid.Renderer` (marketer-grade templating: no attribute access, no includes, strict
variables, time and size limits). The variables are :data:`VARIABLES`: ``to`` (E.164), ``to_digits`` (without
``+``), ``from``, ``text``, ``message_id``, ``unicode`` (the text needs UCS-2), ``segments``, and the
configured ``username``, ``password`` and ``token`` for gateways that take credentials as fields (they stay
encrypted at rest that way, unlike a credential typed into a template). Every template is compiled, and its
variables checked, when the settings are validated, so a bad one is refused when the provider is created.
JSON values are sent as strings.

The answer is judged by configuration too: accepted when its HTTP status is in ``success_statuses`` and, when
``success_path`` is set, the JSON answer's value there equals ``success_value``. A status in
``transient_statuses`` is retried (``Retry-After`` honoured); every other answer is permanent. The provider's
id is read at ``message_id_path`` (JSON) or with ``message_id_regex`` (text answers). Paths are dotted
(``data.0.id``) or JSON pointers (``/data/0/id``). Network failures map as for every HTTP provider: nothing
sent when the connection could not be made, "maybe sent" once the request may have left.

Neither the text nor a secret is ever logged; secrets are blanked out of the answer excerpts kept as errors.
A generic gateway has no standard delivery receipts, so none are asked for; inbound messages are
:mod:`herald.webhooks.http`.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator
from yarl import URL

from herald.channels.base import (
    Envelope,
    PermanentError,
    ProviderContext,
    ProviderSpec,
    SendResult,
    TransientError,
)
from herald.channels.pooled import PooledHttp, retry_after_seconds
from herald.channels.sms import segments
from herald.redact import mask_address
from herald.templates.liquid import Renderer, RenderError, TemplateSyntaxError

log = logging.getLogger(__name__)

VARIABLES = frozenset({"to", "to_digits", "from", "text", "message_id", "unicode", "segments",
                       "username", "password", "token"})
"""What a request template may read."""
RENDERER = Renderer(output_limit=16 * 1024, time_limit=0.2, loop_limit=1000)
"""One sandboxed renderer (with its compiled-template cache) for every gateway of the process."""
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$"
_STATUSES = r"^[1-5][0-9]{2}(-[1-5][0-9]{2})?$"
_EXCERPT = 200


def _roots(source: str) -> set[str]:
    """The top-level variables a template reads (compiled, so cheap after the first call)."""
    return {re.split(r"[.\[]", v, maxsplit=1)[0] for v in RENDERER.check(source, html=False).variables}


def _template(source: str) -> str:
    """Compile ``source`` and refuse variables outside :data:`VARIABLES` (a typo would fail every send)."""
    try:
        roots = _roots(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"invalid template: {exc.message} (line {exc.line}, column {exc.column})") from exc
    unknown = sorted(roots - VARIABLES)
    if unknown:
        raise ValueError(f"unknown variable {unknown[0]!r}; use {', '.join(sorted(VARIABLES))}")
    return source


Template = Annotated[str, Field(max_length=2000), AfterValidator(_template)]
StatusRange = int | Annotated[str, Field(pattern=_STATUSES)]
Path = Annotated[str, Field(min_length=1, max_length=200)]


def _ok() -> list[StatusRange]:
    return ["200-299"]


def _retry() -> list[StatusRange]:
    return [429, "500-599"]


class HttpSmsSettings(BaseModel):
    """One gateway account: the request to make per message, how to read its answer, and inbound options."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000)
    method: Literal["POST", "GET"] = "POST"
    body_format: Literal["form", "json", "none"] = "form"
    """How ``body`` is sent; ``none`` (required for GET) sends no body, only ``query``."""
    body: dict[Annotated[str, Field(min_length=1, max_length=100)], Template] = Field(default_factory=dict,
                                                                                     max_length=50)
    query: dict[Annotated[str, Field(min_length=1, max_length=100)], Template] = Field(default_factory=dict,
                                                                                      max_length=50)
    headers: dict[Annotated[str, Field(pattern=_HEADER_NAME)], Template] = Field(default_factory=dict,
                                                                               max_length=30)
    """Shown in the API like every plain setting: put credentials in ``auth``, not here."""
    auth: Literal["none", "basic", "bearer", "header"] = "none"
    username: str | None = Field(default=None, max_length=200)
    password: SecretStr | None = None
    """The Basic auth password (or a ``{{ password }}`` field)."""
    token: SecretStr | None = None
    """The bearer token, or the value of the ``auth_header`` header (or a ``{{ token }}`` field)."""
    auth_header: str | None = Field(default=None, pattern=_HEADER_NAME)
    from_number: str = Field(pattern=r"^(\+[1-9][0-9]{1,14}|[A-Za-z0-9 ]{1,11})$")
    success_statuses: list[StatusRange] = Field(default_factory=_ok, min_length=1, max_length=20)
    success_path: Path | None = None
    success_value: str | None = Field(default=None, max_length=200)
    message_id_path: Path | None = None
    message_id_regex: str | None = Field(default=None, max_length=200)
    """For text answers: the first group (or the whole match) is the provider's id."""
    transient_statuses: list[StatusRange] = Field(default_factory=_retry, max_length=20)
    timeout: float = Field(default=10.0, ge=1, le=120)
    max_connections: int = Field(default=100, ge=1, le=1000)
    webhook_token: SecretStr | None = Field(default=None, min_length=16, max_length=512)
    """Enables ``POST /webhooks/http/<provider id>/inbound?token=…`` (generate it, e.g. ``openssl rand -hex 24``);
    without it inbound calls are refused."""
    inbound_from_field: str = Field(default="from", min_length=1, max_length=100)
    inbound_to_field: str = Field(default="to", min_length=1, max_length=100)
    inbound_text_field: str = Field(default="text", min_length=1, max_length=100)
    inbound_id_field: str = Field(default="id", min_length=1, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.method == "GET" and self.body_format != "none":
            raise ValueError("a GET request has no body: set body_format to 'none' and use 'query'")
        if (self.body_format == "none") != (not self.body):
            raise ValueError("'body' needs body_format form or json, and body_format form or json needs 'body'")
        needs = {"basic": ("username", "password"), "bearer": ("token",), "header": ("auth_header", "token")}
        for name in needs.get(self.auth, ()):
            if getattr(self, name) is None:
                raise ValueError(f"auth {self.auth!r} needs {name!r}")
        for where, templates in (("body", self.body), ("query", self.query), ("headers", self.headers)):
            for key, source in templates.items():
                for secret in ("username", "password", "token"):
                    if getattr(self, secret) is None and secret in _roots(source):
                        raise ValueError(f"{where}.{key} uses {secret!r}, which is not set")
        if (self.success_path is None) != (self.success_value is None):
            raise ValueError("success_path and success_value go together")
        if self.message_id_regex is not None:
            try:
                pattern = re.compile(self.message_id_regex)
            except re.error as exc:
                raise ValueError(f"message_id_regex: {exc}") from exc
            if pattern.groups > 1:
                raise ValueError("message_id_regex may have at most one group")
        return self


def _statuses(spec: list[int | str]) -> frozenset[int]:
    out: set[int] = set()
    for item in spec:
        low, _, high = str(item).partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return frozenset(out)


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (``a.0.b``) or JSON pointer (``/a/0/b``) of parsed JSON; KeyError if absent."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")] if path.startswith("/") \
        else path.split(".")
    for part in parts:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise KeyError(path)
    return data


def as_text(value: Any) -> str:
    """A JSON value as compared and reported: strings as they are, anything else as JSON (``true``, ``3``)."""
    return value if isinstance(value, str) else json.dumps(value)


class HttpSmsProvider:
    """Sends SMS through one configured gateway; shared by all concurrent sends of a worker."""

    def __init__(self, settings: HttpSmsSettings, ctx: ProviderContext | None = None) -> None:
        self.settings = settings
        self._ctx = ctx
        self._success = _statuses(settings.success_statuses)
        self._transient = _statuses(settings.transient_statuses)
        self._id_regex = re.compile(settings.message_id_regex) if settings.message_id_regex else None
        self._compiled = {(where, key): RENDERER.compile(source, html=False)
                          for where in ("body", "query", "headers")
                          for key, source in getattr(settings, where).items()}
        self._secrets = [s.get_secret_value() for s in (settings.password, settings.token) if s is not None]
        self._pool = PooledHttp("the gateway", timeout=settings.timeout, max_connections=settings.max_connections)

    async def close(self) -> None:
        await self._pool.close()

    def variables(self, envelope: Envelope, text: str) -> dict[str, Any]:
        s = self.settings
        analysis = segments.analyze(text)
        return {
            "to": envelope.to, "to_digits": envelope.to.removeprefix("+"), "from": envelope.sender or s.from_number,
            "text": text, "message_id": envelope.message_id, "unicode": analysis.encoding == segments.UCS2,
            "segments": analysis.segments, "username": s.username or "",
            "password": s.password.get_secret_value() if s.password else "",
            "token": s.token.get_secret_value() if s.token else "",
        }

    def render(self, where: str, variables: Mapping[str, Any]) -> dict[str, str]:
        """The rendered ``body``, ``query`` or ``headers``; PermanentError when a template fails for this message
        (retrying would fail the same way)."""
        out = {}
        for key in getattr(self.settings, where):
            try:
                out[key] = RENDERER.render(self._compiled[where, key], variables, allow_empty=True)
            except RenderError as exc:
                raise PermanentError(f"the {where}.{key} template failed: {exc.message}", code="template") from exc
        return out

    def request(self, envelope: Envelope, text: str) -> dict[str, Any]:
        """The keyword arguments of the aiohttp request for one message."""
        s = self.settings
        variables = self.variables(envelope, text)
        headers = self.render("headers", variables)
        if any("\r" in v or "\n" in v for v in headers.values()):
            raise PermanentError("a header template rendered a line break", code="template")
        if s.auth == "basic" and s.username is not None and s.password is not None:
            pair = f"{s.username}:{s.password.get_secret_value()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        elif s.auth == "bearer" and s.token is not None:
            headers["Authorization"] = "Bearer " + s.token.get_secret_value()
        elif s.auth == "header" and s.auth_header and s.token is not None:
            headers[s.auth_header] = s.token.get_secret_value()
        kwargs: dict[str, Any] = {"method": s.method, "url": URL(s.url).extend_query(self.render("query", variables)),
                                  "headers": headers}
        if s.body_format != "none":
            kwargs["json" if s.body_format == "json" else "data"] = self.render("body", variables)
        return kwargs

    async def send(self, envelope: Envelope) -> SendResult:
        text = envelope.content.get("body")
        if not isinstance(text, str) or not text:
            raise PermanentError("SMS envelope has no body", code="empty")
        to = mask_address(envelope.to)
        kwargs = self.request(envelope, text)
        answer = await self._pool.send(kwargs.pop("method"), kwargs.pop("url"), to=to, **kwargs)
        result = self.outcome(answer.status, answer.body, answer.retry_after)
        log.debug("http sms gateway accepted message to %s as %s", to, result.provider_message_id)
        return result

    def outcome(self, status: int, raw: bytes, retry_after: str | None) -> SendResult:
        """Map one answer onto a result or a typed error (see the module docs)."""
        s = self.settings
        text = self._excerpt(raw)
        if status not in self._success:
            if status in self._transient:
                raise TransientError(f"gateway HTTP {status}: {text}", code=str(status),
                                     retry_after=retry_after_seconds(retry_after), maybe_sent=status in (502, 504))
            raise PermanentError(f"gateway HTTP {status}: {text}", code=str(status))
        data: Any = None
        if s.success_path is not None or s.message_id_path is not None:
            try:
                data = json.loads(raw)
            except ValueError:
                if s.success_path is not None:  # accepted or not, we cannot tell: do not send it twice
                    raise TransientError(f"unreadable gateway answer: {text}", maybe_sent=True) from None
        if s.success_path is not None:
            try:
                value = as_text(lookup(data, s.success_path))
            except KeyError:
                raise PermanentError(f"gateway refused the message: {text}", code="rejected") from None
            if value != s.success_value:
                raise PermanentError(f"gateway refused the message: {text}", code=value[:64])
        message_id = self._message_id(data, raw)
        detail = None if message_id or not (s.message_id_path or self._id_regex) else "no message id in the answer"
        return SendResult(provider_message_id=message_id, code=str(status), detail=detail)

    def _message_id(self, data: Any, raw: bytes) -> str | None:
        if self.settings.message_id_path is not None and data is not None:
            try:
                value = lookup(data, self.settings.message_id_path)
            except KeyError:
                value = None
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)[:200]
        if self._id_regex is not None:
            match = self._id_regex.search(raw[:4096].decode("utf-8", "replace"))
            if match:
                return (match.group(1) if self._id_regex.groups else match.group(0))[:200] or None
        return None

    def _excerpt(self, raw: bytes) -> str:
        """The start of an answer, for errors, with any configured secret blanked out (gateways echo)."""
        text = raw[:4096].decode("utf-8", "replace")
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text[:_EXCERPT].strip() or "empty answer"

    async def reconcile(self, envelope: Envelope, since: datetime) -> SendResult | None:
        """Always ``None`` (not sent): a generic gateway has no standard way to look a message up, so after an
        ambiguous failure the message is sent again and the recipient may get it twice."""
        return None


SPEC = ProviderSpec(
    kind="http",
    channels=frozenset({"sms"}),
    settings_model=HttpSmsSettings,
    factory=lambda settings, ctx: HttpSmsProvider(settings, ctx),
    description="Any HTTP SMS gateway, with a configurable request template and answer rules",
)
