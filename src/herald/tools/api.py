"""``/v1/tools``: helpers for people writing messages. ``POST /v1/tools/sms-analysis`` answers how a text goes
out as SMS (encoding, billed segments, what forced UCS-2, links split across segments) before anything is
sent, so previews and template editors can show the cost."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from herald.auth.tokens import Principal
from herald.channels.sms import segments
from herald.deps import StateDep, require
from herald.problems import COMMON_RESPONSES

router = APIRouter(prefix="/v1/tools", tags=["tools"], responses={**COMMON_RESPONSES})
Sender = Annotated[Principal, Depends(require("messages:send"))]
MAX_TEXT = 10_000


class SmsAnalysisRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"text": "Your code is 123456. It expires in 10 minutes.", "include_segments": True}],
    })

    text: str = Field(max_length=MAX_TEXT, description="The SMS text, as it would be sent (after templating)")
    max_segments: int | None = Field(
        default=None, ge=1, le=50,
        description="Flag the text as over_limit above this many segments; default: the server's sms_max_segments",
    )
    include_segments: bool = Field(default=False, description="Also answer the segments' texts")


class SmsAnalysisOut(BaseModel):
    encoding: str = Field(description="GSM-7 or UCS-2")
    characters: int = Field(description="Unicode code points (an emoji is 1, a flag 2)")
    units: int = Field(description="Septets for GSM-7 (extension characters count 2); UTF-16 units for UCS-2")
    segments: int = Field(description="Billed segments (0 for an empty text)")
    per_segment_limit: int = Field(description="160/70 for one segment, 153/67 when concatenated")
    remaining_in_last_segment: int
    ucs2_characters: list[str] = Field(description="The characters that forced UCS-2, in order of appearance")
    split_links: list[str] = Field(description="Links that cross a segment boundary")
    warnings: list[str]
    over_limit: bool = Field(description="More segments than max_segments")
    max_segments: int
    segments_text: list[str] | None = Field(
        default=None, description="The segments' texts; only when include_segments is true")


@router.post("/sms-analysis", response_model=SmsAnalysisOut, response_model_exclude_none=True,
             summary="Analyse an SMS text: encoding, segments, warnings")
async def sms_analysis(req: SmsAnalysisRequest, state: StateDep, _: Sender) -> SmsAnalysisOut:
    """Over the segment limit is not an error: the answer says ``over_limit: true``."""
    limit = req.max_segments or max(1, int(getattr(state.settings, "sms_max_segments", 10)))
    a = segments.analyze(req.text, max_segments=limit)
    return SmsAnalysisOut(
        encoding=a.encoding, characters=a.characters, units=a.units, segments=a.segments,
        per_segment_limit=a.per_segment_limit, remaining_in_last_segment=a.remaining_in_last_segment,
        ucs2_characters=list(a.ucs2_characters), split_links=list(a.split_links), warnings=list(a.warnings),
        over_limit=a.over_limit, max_segments=limit,
        segments_text=segments.split(req.text) if req.include_segments else None,
    )
