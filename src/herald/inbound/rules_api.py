"""``/v1/keywords`` (a workspace's own keywords and their actions) and ``/v1/keyword-texts`` (the answers to
opt-out, opt-in and help keywords, per sender and language)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from herald import errors
from herald.auth.service import audit
from herald.auth.tokens import Principal
from herald.deps import SessionDep, require, workspace_of
from herald.inbound import rules
from herald.inbound.models import KeywordRule, KeywordText
from herald.problems import COMMON_RESPONSES, PROBLEM_SCHEMA

router = APIRouter(tags=["inbound"], responses={**COMMON_RESPONSES, 404: PROBLEM_SCHEMA, 409: PROBLEM_SCHEMA})
Reader = Annotated[Principal, Depends(require("keywords:read"))]
Writer = Annotated[Principal, Depends(require("keywords:write"))]


class KeywordIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"word": "JOIN", "action": "event", "event_type": "sms.join", "sender": "+14155550199"},
        {"word": "HOURS", "action": "reply", "template": "branch-hours"},
        {"word": "BASTA", "action": "opt_out"}]})

    word: str = Field(min_length=1, max_length=60)
    action: Literal["opt_out", "opt_in", "help", "reply", "event"]
    sender: str | None = Field(default=None, max_length=32, description="A number or short code; none = all")
    template: str | None = Field(default=None, max_length=100, description="For `reply`: an SMS template "
                                 "(it sees `inbound.body`, `inbound.keyword`)")
    event_type: str | None = Field(default=None, max_length=100, description="For `event`: the type fired, with "
                                   "keyword, body, from, to and inbound_id as its payload")


class KeywordOut(BaseModel):
    id: str
    word: str
    action: str
    sender: str | None
    template_id: str | None
    event_type: str | None
    created_by: str
    created_at: datetime


class KeywordTextIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"action": "help", "language": "en", "text": "Acme Bank alerts. Msg frequency varies. Msg & data rates may "
         "apply. Help: 0800 123 456. Reply STOP to unsubscribe."}]})

    action: Literal["opt_out", "opt_in", "help"]
    text: str = Field(min_length=1, max_length=640)
    sender: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=35, description="For contacts with this language")


class KeywordTextOut(BaseModel):
    id: str
    action: str
    text: str
    sender: str | None
    language: str | None
    updated_by: str
    updated_at: datetime


def _rule_out(r: KeywordRule) -> KeywordOut:
    return KeywordOut(id=r.id, word=r.word.upper(), action=r.action, sender=r.sender, template_id=r.template_id,
                      event_type=r.event_type, created_by=r.created_by, created_at=r.created_at)


def _text_out(t: KeywordText) -> KeywordTextOut:
    return KeywordTextOut(id=t.id, action=t.action, text=t.text, sender=t.sender, language=t.language,
                          updated_by=t.updated_by, updated_at=t.updated_at)



@router.post("/v1/keywords", response_model=KeywordOut, status_code=201, summary="Add a keyword")
async def add_keyword(req: KeywordIn, session: SessionDep, principal: Writer) -> KeywordOut:
    rule = await rules.add_rule(session, await workspace_of(session, principal), req.model_dump(), principal.client_id)
    return _rule_out(rule)


@router.get("/v1/keywords", response_model=list[KeywordOut], summary="The workspace's own keywords")
async def list_keywords(session: SessionDep, principal: Reader) -> list[KeywordOut]:
    rows = await session.scalars(select(KeywordRule).where(KeywordRule.workspace_id == principal.workspace_id)
                                 .order_by(KeywordRule.word, KeywordRule.id))
    return [_rule_out(r) for r in rows]


@router.delete("/v1/keywords/{keyword_id}", status_code=204, summary="Remove a keyword")
async def delete_keyword(keyword_id: Annotated[str, Path(max_length=64)], session: SessionDep,
                         principal: Writer) -> Response:
    rule = await session.get(KeywordRule, keyword_id)
    if rule is None or rule.workspace_id != principal.workspace_id:
        raise errors.NotFound(f"No keyword {keyword_id!r} in this workspace.", code="keyword_not_found")
    audit(session, rule.workspace_id, principal.client_id, "keyword.delete", rule.id, {"word": rule.word})
    await session.delete(rule)
    return Response(status_code=204)


@router.put("/v1/keyword-texts", response_model=KeywordTextOut, summary="Set the answer to a keyword")
async def set_text(req: KeywordTextIn, session: SessionDep, principal: Writer) -> KeywordTextOut:
    row = await rules.set_text(session, await workspace_of(session, principal), req.model_dump(), principal.client_id)
    await session.flush()
    return _text_out(row)


@router.get("/v1/keyword-texts", response_model=list[KeywordTextOut], summary="The configured answers")
async def list_texts(session: SessionDep, principal: Reader) -> list[KeywordTextOut]:
    rows = await session.scalars(select(KeywordText).where(KeywordText.workspace_id == principal.workspace_id)
                                 .order_by(KeywordText.action, KeywordText.id))
    return [_text_out(t) for t in rows]


@router.delete("/v1/keyword-texts/{text_id}", status_code=204, summary="Go back to the default answer")
async def delete_text(text_id: Annotated[str, Path(max_length=64)], session: SessionDep,
                      principal: Writer) -> Response:
    row = await session.get(KeywordText, text_id)
    if row is None or row.workspace_id != principal.workspace_id:
        raise errors.NotFound(f"No keyword text {text_id!r} in this workspace.", code="keyword_text_not_found")
    audit(session, row.workspace_id, principal.client_id, "keyword_text.delete", row.id, {"action": row.action})
    await session.delete(row)
    return Response(status_code=204)


class InboundSettingsIO(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reply_window_minutes: int = Field(ge=1, le=30 * 24 * 60, description="A reply threads to our latest message "
                                      "(or continues the conversation) sent within this many minutes; after as "
                                      "much silence the conversation closes")


@router.get("/v1/inbound-settings", response_model=InboundSettingsIO, summary="How replies thread")
async def get_settings(session: SessionDep, principal: Reader) -> InboundSettingsIO:
    return InboundSettingsIO(reply_window_minutes=await rules.reply_window(session, principal.workspace_id))


@router.put("/v1/inbound-settings", response_model=InboundSettingsIO, summary="Change how replies thread")
async def put_settings(req: InboundSettingsIO, session: SessionDep, principal: Writer) -> InboundSettingsIO:
    row = await rules.set_reply_window(session, principal.workspace_id, req.reply_window_minutes,
                                       principal.client_id)
    return InboundSettingsIO(reply_window_minutes=row.reply_window_minutes)
