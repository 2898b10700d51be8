"""``/v1/queues/{system}``: the communication queue's pull protocol, for third-party systems (a customer
portal, an app's inbox) that deliver Herald's messages themselves (:mod:`herald.commqueue.service`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from herald.auth.tokens import Principal
from herald.commqueue import service
from herald.deps import SessionDep, require
from herald.problems import COMMON_RESPONSES, PROBLEM_SCHEMA

router = APIRouter(tags=["communication queue"], responses={**COMMON_RESPONSES, 404: PROBLEM_SCHEMA})
Consumer = Annotated[Principal, Depends(require("queues:consume"))]
System = Annotated[str, Path(max_length=100, description="The system: a queue provider's id or name")]


class PullIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"limit": 50,
                                                                              "visibility_seconds": 120}]})

    limit: int = Field(default=100, ge=1, le=500)
    visibility_seconds: int | None = Field(default=None, ge=1, le=43_200, description="How long the entries "
                                           "stay hidden from other pulls unless acknowledged; default: the "
                                           "system's setting")


class EntryOut(BaseModel):
    id: str = Field(description="The message id: the same on every pull of this entry")
    system: str
    to: str = Field(description="The recipient: the contact's external id (else its id), or the `to` given")
    contact_id: str | None
    classification: str
    priority: int
    content: dict[str, Any] | None
    template_id: str | None
    template_version: int | None
    locale: str | None
    metadata: dict[str, Any]
    source: str
    source_id: str | None
    created_at: datetime
    sent_at: datetime | None = Field(description="When it was made available to the system")
    expires_at: datetime | None
    visible_again_at: datetime | None = Field(description="When another pull gets it, unless acknowledged")


class PullOut(BaseModel):
    entries: list[EntryOut]
    visibility_seconds: int


class AckItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=40)
    state: Literal["completed", "rejected", "removed"] = Field(description="completed: delivered to the "
                                                                "customer's inbox or device; rejected: could not "
                                                                "be; removed: the customer deleted it")
    detail: str | None = Field(default=None, max_length=500, description="Why (shown in the message's timeline)")


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"acks": [
        {"id": "msg_01JD2Q6V8K1T3W4X5Y6Z7A8B9C", "state": "completed"},
        {"id": "msg_01JD2Q6V8K1T3W4X5Y6Z7A8B9D", "state": "rejected", "detail": "inbox closed"}]}]})

    acks: list[AckItem] = Field(min_length=1, max_length=1000)


class AckResult(BaseModel):
    id: str
    state: str | None = Field(description="The entry's state after this acknowledgement (none: no such entry)")
    outcome: Literal["updated", "unchanged", "refused"]
    code: str | None = None
    detail: str | None = None


class AckOut(BaseModel):
    results: list[AckResult]
    updated: int
    refused: int


class QueueStats(BaseModel):
    system: str
    name: str
    pending: int = Field(description="Available, not pulled (or its pull's visibility time ran out)")
    in_flight: int = Field(description="Pulled, not yet acknowledged")
    waiting_to_be_made_available: int = Field(description="Planned, due later (schedule, quiet hours)")
    completed: int
    rejected: int
    removed: int
    expired: int
    oldest_pending_at: datetime | None


@router.post("/v1/queues/{system}/pull", response_model=PullOut, summary="Pull the next entries")
async def pull(system: System, req: PullIn, principal: Consumer, session: SessionDep) -> dict[str, Any]:
    """Lease the system's next pending entries (highest priority, then oldest). Each stays hidden from other
    pulls for the visibility time; acknowledge it before then, or a later pull gets it again (at least once:
    recognise a repeat by its id)."""
    provider = await service.system(session, principal.workspace_id, system)
    seconds = service.visibility(provider, req.visibility_seconds)
    entries = await service.pull(session, provider, limit=req.limit, visibility_seconds=seconds,
                                 now=datetime.now(UTC))
    return {"entries": entries, "visibility_seconds": seconds}


@router.post("/v1/queues/{system}/acks", response_model=AckOut, summary="Report what became of entries")
async def acknowledge(system: System, req: AckIn, principal: Consumer, session: SessionDep) -> dict[str, Any]:
    """Each entry moves forward only: pending -> completed | rejected | removed, completed -> removed. The same
    state again is a no-op (a retried acknowledgement is safe); anything else is refused for that entry
    alone, with a code, and the others still apply."""
    provider = await service.system(session, principal.workspace_id, system)
    results = await service.acknowledge(session, provider, [service.Ack(a.id, a.state, a.detail) for a in req.acks],
                                        datetime.now(UTC))
    return {"results": results, "updated": sum(r["outcome"] == "updated" for r in results),
            "refused": sum(r["outcome"] == "refused" for r in results)}


@router.get("/v1/queues/{system}", response_model=QueueStats, summary="How the system's queue stands")
async def stats(system: System, principal: Consumer, session: SessionDep) -> dict[str, Any]:
    provider = await service.system(session, principal.workspace_id, system)
    return await service.stats(session, provider, datetime.now(UTC))
