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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Insert,
    Integer,
    Select,
    String,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
)

from herald.campaigns.models import PRIORITY, PRIORITY_MEMBER, SOURCE
from herald.channels.base import SYSTEM_CHANNELS
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
    history_days: int | None = None
    """Notification history: skip an address this template was sent to in the last so many days (counted back
    from ``history_since``)."""
    history_since: datetime | None = None


def history(days: int | None, now: datetime) -> dict[str, Any]:
    """The :class:`Spec` fields of a campaign's ``skip_notified_within_days`` as of ``now``."""
    return {"history_days": days, "history_since": now - timedelta(days=days)} if days else {}


def _address(spec: Spec) -> ColumnElement[Any]:
    """The column :func:`herald.pipeline.plan.address_of` reads, for the campaign's channel."""
    if spec.channel in SYSTEM_CHANNELS:
        return func.coalesce(_c.external_id, _c.id)
    return _c.phone if spec.channel == "sms" else _c.email


def _entry(spec: Spec) -> ColumnElement[Any]:
    """The id of the first suppression that blocks the address, in the policy's order: scope ``all`` before
    ``marketing``, the workspace's suppression list before DNC lists, the oldest first.

    Most addresses have no entry at all, and a bare probe of the (workspace, address) index says so; only the
    others run the ordered query, whose join, sort and limit cost PostgreSQL ~4 µs a row even when they find
    nothing (measured: the probe first takes ~1/5 off the SELECT of a 20,000-member batch)."""
    marketing = spec.classification in MARKETING
    applies = or_(_l.always.is_(True), _l.id.in_(list(spec.dnc_lists)) if spec.dnc_lists else false())
    here = (_s.workspace_id == spec.workspace_id, _s.address == _address(spec), _s.channel == spec.channel)
    first = (select(_s.id).select_from(Suppression.__table__.join(DncList.__table__, _l.id == _s.list_id))
             .where(*here, applies, true() if marketing else _s.scope == "all")
             .order_by(case((_s.scope == "all", 0), else_=1), case((_l.kind == DNC, 1), else_=0), _s.created_at)
             .limit(1)).scalar_subquery()
    return case((exists().where(*here), first), else_=null())


def facts(spec: Spec) -> list[ColumnElement[Any]]:
    """What the rules read about each contact (selected from contacts): computed once per row in a
    materialized CTE, so the suppression probe and the JSON reads are not repeated for every column."""
    purpose = spec.classification
    optable = purpose not in UNOPTABLE
    return [
        _c.erased_at.is_not(None).label("erased"),
        func.coalesce(_address(spec), "").label("address"),
        _entry(spec).label("entry"),
        (_granted(purpose) if optable else cast(null(), Integer)).label("granted"),
        (_c.consent[(purpose, "source")].as_string() if optable else null()).label("granted_source"),
        *([_notified(spec).label("notified")] if spec.history_since else []),
    ]


def _notified(spec: Spec) -> ColumnElement[Any]:
    """Whether the address was sent the campaign's template since ``history_since`` (by another campaign or a
    single send: this campaign's own messages are its de-duplication's business). The address index finds the
    few messages of each address."""
    return exists().where(_seen.c.to_address == _address(spec), _seen.c.workspace_id == spec.workspace_id,
                          _seen.c.template_id == spec.template_id, _seen.c.sent_at >= spec.history_since,
                          or_(_seen.c.source_id.is_(None), _seen.c.source_id != spec.campaign_id))


def _granted(purpose: str) -> ColumnElement[Any]:
    """1, 0 or NULL: the JSON boolean read alike on both databases (SQLite answers 1/0, PostgreSQL 'true')."""
    text = cast(_c.consent[(purpose, "granted")].as_string(), String)
    return case((text.in_(("true", "1")), literal_column("1")), (text.in_(("false", "0")), literal_column("0")),
                else_=null())


_es, _el = Suppression.__table__.alias("entry"), DncList.__table__.alias("entry_list")


def decided(spec: Spec, known: Select[Any]) -> tuple[FromClause, ColumnElement[Any], ColumnElement[Any], Any]:
    """``known`` selects :func:`facts` (and whatever else the caller needs); answers the FROM clause to select
    from, the ``(reason, explanation)`` expressions (both NULL when the message may go), and the CTE."""
    base = known.cte("facts").prefix_with("MATERIALIZED")
    f = base.c
    joined = base.outerjoin(_es, _es.c.id == f.entry).outerjoin(_el, _el.c.id == _es.c.list_id)
    what = {"sms": "phone number", "email": "email address"}.get(spec.channel, "recipient")
    purpose = spec.classification
    opted = _es.c.source.in_(("keyword", "unsubscribe"))
    detail = func.coalesce(literal(" (", String) + _es.c.reason + literal(")", String), "")
    withdrawn = f.granted == 0
    lacking = or_(f.granted.is_(None), f.granted == 0) if purpose in MARKETING else false()
    # The rule book's rules first (they agree with herald.pipeline.policy), then the campaign's own history rule.
    history = [(f.notified, "recently_notified")] if spec.history_since else []
    told = ([(f.notified, f"Not sent: recently_notified: this template went to this {what} in the last "
                          f"{spec.history_days} days")] if spec.history_since else [])
    reason = case(
        (f.erased, "erased"), (f.address == "", "no_address"),
        (f.entry.is_not(None), case((_el.c.kind == DNC, func.substr(literal("dnc:", String) + _el.c.name, 1, 60)),
                                    (opted, "opted_out"), else_="suppressed")),
        (withdrawn, "opted_out"), (lacking, "no_consent"), *history, else_=null())
    explanation = case(
        (f.erased, "Not sent: erased: the contact's personal data was erased"),
        (f.address == "", f"Not sent: no_address: the contact has no {what}"),
        (f.entry.is_not(None), case(
            (_el.c.kind == DNC, literal('Not sent: suppressed: dnc list "', String) + _el.c.name
             + literal('"', String)),
            (opted, literal("Not sent: opted_out: ", String) + _es.c.source + detail),
            else_=literal("Not sent: suppressed: ", String) + _es.c.source + detail)),
        (withdrawn, literal(f"Not sent: opted_out: {purpose} consent withdrawn (", String)
         + func.coalesce(f.granted_source, "contact") + literal(")", String)),
        (lacking, f"Not sent: no_consent: the contact never gave {purpose} consent"), *told, else_=null())
    return joined, reason, explanation, base


def _member_key(dialect: str, member_id: Any) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return func.lpad(cast(member_id, String), 10, "0")
    return func.printf("%010d", member_id)


def message_id_prefix(campaign_id: str) -> str:
    return "msg_" + campaign_id.split("_", 1)[1]


def _members(spec: Spec, list_id: str, priority: bool, after: int, upto: int, dedupe: bool) -> Select[Any]:
    query = (select(_lm.id.label("member_id"), _c.id.label("contact_id"), *facts(spec))
             .select_from(ListMember.__table__.join(Contact.__table__, _c.id == _lm.contact_id))
             .where(_lm.list_id == list_id, _lm.priority == priority, _lm.id > after, _lm.id <= upto))
    if dedupe:  # several lists: a contact in two of them gets one message
        query = query.where(~exists().where(_seen.c.contact_id == _c.id, _seen.c.source_id == spec.campaign_id))
    return query


COLUMNS = ("id", "workspace_id", "source", "source_id", "source_item", "channel", "provider_id", "contact_id",
           "to_address", "sender", "classification", "priority", "override", "dnc_lists", "metadata",
           "template_id", "template_version", "state", "reason", "explanation", "due_at", "attempts",
           "created_at", "updated_at", "final_at")


def batch(spec: Spec, dialect: str, *, list_id: str, priority: bool, after: int, upto: int, dedupe: bool,
          due: datetime, now: datetime) -> Insert:
    """The members of ``list_id`` with ids in ``(after, upto]`` become message rows."""
    joined, reason, explanation, base = decided(spec, _members(spec, list_id, priority, after, upto, dedupe))
    f = base.c
    blocked = reason.is_not(None)
    rows = select(
        literal(message_id_prefix(spec.campaign_id), String) + _member_key(dialect, f.member_id),
        literal(spec.workspace_id, String), literal(SOURCE, String), literal(spec.campaign_id, String), f.member_id,
        literal(spec.channel, String), literal(spec.provider_id, String), f.contact_id, f.address,
        literal(spec.sender, String), literal(spec.classification, String),
        literal(PRIORITY_MEMBER if priority else PRIORITY), false(),
        literal(list(spec.dnc_lists), MESSAGES.c.dnc_lists.type) if spec.dnc_lists else null(),
        literal({}, MESSAGES.c.metadata.type), literal(spec.template_id, String), literal(spec.template_version),
        case((blocked, SKIPPED), else_=QUEUED), reason,
        func.coalesce(explanation, literal(spec.queued_explanation, String)),
        literal(due, MESSAGES.c.due_at.type), literal(0), literal(now, MESSAGES.c.created_at.type),
        literal(now, MESSAGES.c.updated_at.type), case((blocked, literal(now, MESSAGES.c.final_at.type)), else_=null()),
    ).select_from(joined)
    if dialect == "sqlite":  # rows in id order keep SQLite's b-tree inserts at the right-hand edge
        rows = rows.order_by(f.member_id)
    return insert(MESSAGES).from_select(list(COLUMNS), rows)


def outcomes(spec: Spec, list_ids: Sequence[str]) -> Select[Any]:
    """The dry run: ``(reason, count)`` over the audience's distinct contacts (reason NULL: would be sent)."""
    audience = select(_lm.contact_id).where(_lm.list_id.in_(list(list_ids)))
    joined, reason, _, _ = decided(spec, select(_c.id.label("contact_id"), *facts(spec)).where(_c.id.in_(audience)))
    return select(reason.label("reason"), func.count().label("n")).select_from(joined).group_by(reason)


def reasons(spec: Spec, workspace_id: str) -> Select[Any]:
    """``(contact id, reason)`` for every contact of a workspace (to hold these rules to the rule book)."""
    joined, reason, _, base = decided(spec, select(_c.id.label("contact_id"), *facts(spec))
                                      .where(_c.workspace_id == workspace_id))
    return select(base.c.contact_id, reason).select_from(joined)


def sample(spec: Spec, list_ids: Sequence[str], size: int) -> Select[Any]:
    """A few would-be recipients (priority rows first), with their list fields, for the dry run's renders."""
    known = (select(_lm.id.label("member_id"), _lm.fields, _c.id.label("contact_id"), _lm.priority, *facts(spec))
             .select_from(ListMember.__table__.join(Contact.__table__, _c.id == _lm.contact_id))
             .where(_lm.list_id.in_(list(list_ids))))
    joined, reason, _, base = decided(spec, known)
    f = base.c
    return (select(f.member_id, f.fields, f.contact_id).select_from(joined).where(reason.is_(None))
            .order_by(f.priority.desc(), f.member_id).limit(size))


def range_end(list_id: str, priority: bool, after: int, size: int) -> Select[Any]:
    """The member id that closes the next batch of ``size`` members after ``after`` (NULL: none left)."""
    ids = (select(_lm.id).where(_lm.list_id == list_id, _lm.priority == priority, _lm.id > after)
           .order_by(_lm.id).limit(size).subquery())
    return select(func.max(ids.c.id))
