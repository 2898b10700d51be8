"""Campaign planning, set-based: each batch of list members becomes message rows in one ``INSERT … SELECT``.

A million recipients cannot be planned a row at a time in Python within seconds, so the plan step's rules
(:mod:`herald.pipeline.policy`: erased contact, no address, suppression and DNC lists, consent by purpose)
are written here once more as SQL, and a property test holds the two to the same answers. Each message row
is ``queued`` or ``skipped`` with the rule's reason and explanation. Its content is rendered when it is sent
(:mod:`herald.campaigns.delivery`) and stored with it, so the row still keeps exactly what went out; and the
dispatcher re-checks the rules just before sending, as for every message.

A message's id is made from the campaign's id and the list member's id, so that a batch planned twice (it
cannot be, its checkpoint commits with it) would collide instead of sending twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    String,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    true,
)

from herald.campaigns.models import PRIORITY, PRIORITY_MEMBER, SOURCE
from herald.contacts.models import Contact
from herald.lists.models import ListMember
from herald.messages.models import MESSAGES, QUEUED, SKIPPED
from herald.pipeline.policy import MARKETING, UNOPTABLE
from herald.suppressions.models import DNC, DncList, Suppression

_c = Contact.__table__.c
_lm = ListMember.__table__.c
_s = Suppression.__table__.c
_l = DncList.__table__.c
_seen = MESSAGES.alias("seen")


@dataclass(frozen=True, slots=True)
class Spec:
    """What planning needs to know about a campaign."""

    campaign_id: str
    workspace_id: str
    channel: str
    classification: str
    dnc_lists: Sequence[str]
    provider_id: str | None
    sender: str | None
    template_id: str | None
    template_version: int | None
    queued_explanation: str


def _address(spec: Spec) -> ColumnElement[Any]:
    return _c.phone if spec.channel == "sms" else _c.email


def _entry(spec: Spec, marketing: bool) -> Select[Any]:
    """The first suppression that blocks the address, in the policy's order: scope ``all`` before
    ``marketing``, the workspace's suppression list before DNC lists, the oldest first."""
    applies = or_(_l.always.is_(True), _l.id.in_(list(spec.dnc_lists)) if spec.dnc_lists else false())
    return (select(_s.scope).select_from(Suppression.__table__.join(DncList.__table__, _l.id == _s.list_id))
            .where(_s.workspace_id == spec.workspace_id, _s.channel == spec.channel,
                   _s.address == _address(spec), applies, true() if marketing else _s.scope == "all")
            .order_by(case((_s.scope == "all", 0), else_=1), case((_l.kind == DNC, 1), else_=0), _s.created_at)
            .limit(1))


def _suppression(spec: Spec, marketing: bool) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    entry = _entry(spec, marketing)
    detail = func.coalesce(literal(" (", String) + _s.reason + literal(")", String), "")
    reason = entry.with_only_columns(case(
        (_l.kind == DNC, func.substr(literal("dnc:", String) + _l.name, 1, 60)),
        (_s.source.in_(("keyword", "unsubscribe")), "opted_out"), else_="suppressed")).scalar_subquery()
    explanation = entry.with_only_columns(case(
        (_l.kind == DNC, literal('Not sent: suppressed: dnc list "', String) + _l.name + literal('"', String)),
        (_s.source.in_(("keyword", "unsubscribe")), literal("Not sent: opted_out: ", String) + _s.source + detail),
        else_=literal("Not sent: suppressed: ", String) + _s.source + detail)).scalar_subquery()
    return reason, explanation


def _consent(spec: Spec) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    purpose = spec.classification
    if purpose in UNOPTABLE:
        return null(), null()
    granted = _c.consent[(purpose, "granted")].as_boolean()
    source = func.coalesce(_c.consent[(purpose, "source")].as_string(), "contact")
    withdrawn = granted.is_not(None) & (granted == false())
    lacking = or_(granted.is_(None), granted == false()) if purpose in MARKETING else false()
    reason = case((withdrawn, "opted_out"), (lacking, "no_consent"), else_=null())
    explanation = case(
        (withdrawn, literal(f"Not sent: opted_out: {purpose} consent withdrawn (", String) + source
         + literal(")", String)),
        (lacking, literal(f"Not sent: no_consent: the contact never gave {purpose} consent", String)),
        else_=null())
    return reason, explanation


def decisions(spec: Spec) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """``(reason, explanation)`` SQL expressions: both NULL when the message may go."""
    address = _address(spec)
    what = "phone number" if spec.channel == "sms" else "email address"
    marketing = spec.classification in MARKETING
    s_reason, s_explanation = _suppression(spec, marketing)
    c_reason, c_explanation = _consent(spec)
    missing = or_(address.is_(None), address == "")
    reason = func.coalesce(case((_c.erased_at.is_not(None), "erased"), (missing, "no_address"), else_=null()),
                           s_reason, c_reason)
    explanation = func.coalesce(case(
        (_c.erased_at.is_not(None), "Not sent: erased: the contact's personal data was erased"),
        (missing, f"Not sent: no_address: the contact has no {what}"), else_=null()), s_explanation, c_explanation)
    return reason, explanation


def _member_key(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.lpad(cast(_lm.id, String), 10, "0")
    return func.printf("%010d", _lm.id)


def message_id_prefix(campaign_id: str) -> str:
    return "msg_" + campaign_id.split("_", 1)[1]


def _members(spec: Spec, list_id: str, priority: bool, after: int, upto: int, dedupe: bool) -> Select[Any]:
    query = (select().select_from(ListMember.__table__.join(Contact.__table__, _c.id == _lm.contact_id))
             .where(_lm.list_id == list_id, _lm.priority.is_(priority), _lm.id > after, _lm.id <= upto))
    if dedupe:  # several lists: a contact in two of them gets one message
        query = query.where(~exists().where(_seen.c.source_id == spec.campaign_id, _seen.c.contact_id == _c.id))
    return query


COLUMNS = ("id", "workspace_id", "source", "source_id", "source_item", "channel", "provider_id", "contact_id",
           "to_address", "sender", "classification", "priority", "override", "dnc_lists", "metadata",
           "template_id", "template_version", "state", "reason", "explanation", "due_at", "attempts",
           "created_at", "updated_at", "final_at")


def batch(spec: Spec, dialect: str, *, list_id: str, priority: bool, after: int, upto: int, dedupe: bool,
          due: datetime, now: datetime) -> Insert:
    """The members of ``list_id`` with ids in ``(after, upto]`` become message rows."""
    reason, explanation = decisions(spec)
    blocked = reason.is_not(None)
    rows = _members(spec, list_id, priority, after, upto, dedupe).with_only_columns(
        literal(message_id_prefix(spec.campaign_id), String) + _member_key(dialect),
        literal(spec.workspace_id, String), literal(SOURCE, String), literal(spec.campaign_id, String), _lm.id,
        literal(spec.channel, String), literal(spec.provider_id, String), _c.id,
        func.coalesce(_address(spec), ""), literal(spec.sender, String), literal(spec.classification, String),
        literal(PRIORITY_MEMBER if priority else PRIORITY), false(),
        literal(list(spec.dnc_lists), MESSAGES.c.dnc_lists.type) if spec.dnc_lists else null(),
        literal({}, MESSAGES.c.metadata.type), literal(spec.template_id, String), literal(spec.template_version),
        case((blocked, SKIPPED), else_=QUEUED), reason,
        func.coalesce(explanation, literal(spec.queued_explanation, String)),
        literal(due, MESSAGES.c.due_at.type), literal(0), literal(now, MESSAGES.c.created_at.type),
        literal(now, MESSAGES.c.updated_at.type), case((blocked, literal(now, MESSAGES.c.final_at.type)), else_=null()),
    )
    return insert(MESSAGES).from_select(list(COLUMNS), rows)


def outcomes(spec: Spec, list_ids: Sequence[str]) -> Select[Any]:
    """The dry run: ``(reason, count)`` over the audience's distinct contacts (reason NULL: would be sent)."""
    reason, _ = decisions(spec)
    audience = select(_lm.contact_id).where(_lm.list_id.in_(list(list_ids)))
    return select(reason.label("reason"), func.count().label("n")).where(_c.id.in_(audience)).group_by(reason)


def sample(spec: Spec, list_ids: Sequence[str], size: int) -> Select[Any]:
    """A few would-be recipients (priority rows first), with their list fields, for the dry run's renders."""
    reason, _ = decisions(spec)
    return (select(_lm.id, _lm.fields, _c.id).select_from(ListMember.__table__.join(Contact.__table__,
                                                                                      _c.id == _lm.contact_id))
            .where(_lm.list_id.in_(list(list_ids)), reason.is_(None))
            .order_by(_lm.priority.desc(), _lm.id).limit(size))


def range_end(list_id: str, priority: bool, after: int, size: int) -> Select[Any]:
    """The member id that closes the next batch of ``size`` members after ``after`` (NULL: none left)."""
    ids = (select(_lm.id).where(_lm.list_id == list_id, _lm.priority.is_(priority), _lm.id > after)
           .order_by(_lm.id).limit(size).subquery())
    return select(func.max(ids.c.id))
