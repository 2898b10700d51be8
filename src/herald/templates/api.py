"""``/v1/templates``: personalised content per channel and locale, versioned, previewable."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from herald import idempotency
from herald.auth.tokens import Principal
from herald.channels.sms import segments
from herald.deps import SessionDep, StateDep, require, workspace_of
from herald.problems import COMMON_RESPONSES
from herald.templates import email as email_build
from herald.templates import push, service
from herald.templates.models import Template, TemplateVersion
from herald.templates.schemas import (
    PreviewOut,
    PreviewRequest,
    TemplateCreate,
    TemplateOut,
    TemplateSummary,
    TemplateUpdate,
    VersionOut,
)

router = APIRouter(prefix="/v1/templates", tags=["templates"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("templates:read"))]
Writer = Annotated[Principal, Depends(require("templates:write"))]
Ref = Annotated[str, Path(max_length=100, description="Template id or name")]


@router.post("", status_code=201, response_model=TemplateOut, summary="Create a template")
async def create_template(
    request: Request, req: TemplateCreate, session: SessionDep, state: StateDep, principal: Writer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    reservation, replay = await idempotency.begin(session, principal.workspace_id, idempotency_key,
                                                  request.url.path, req.model_dump(mode="json"))
    if replay is not None:
        return replay
    template, version, warnings = await service.create(session, state.renderer, principal.workspace_id, req,
                                                       principal.client_id)
    await session.flush()
    body = service.to_out(template, version, warnings).model_dump(mode="json")
    reservation.store(201, body)
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/templates/{template.id}"})


@router.get("", response_model=list[TemplateSummary], summary="List templates")
async def list_templates(session: SessionDep, principal: Reader, channel: str | None = None
                         ) -> list[TemplateSummary]:
    query = select(Template, TemplateVersion).join(TemplateVersion, (TemplateVersion.template_id == Template.id)
                                                   & (TemplateVersion.version == Template.current_version))
    query = query.where(Template.workspace_id == principal.workspace_id, Template.archived.is_(False))
    if channel:
        query = query.where(Template.channel == channel)
    rows = (await session.execute(query.order_by(Template.name))).all()
    return [TemplateSummary(id=t.id, name=t.name, channel=t.channel, description=t.description,
                            version=t.current_version, locales=sorted(v.variants), updated_at=t.updated_at)
            for t, v in rows]


@router.get("/{ref}", response_model=TemplateOut, summary="A template at its current version")
async def get_template(ref: Ref, session: SessionDep, principal: Reader) -> TemplateOut:
    template = await service.find(session, principal.workspace_id, ref)
    return service.to_out(template, await service.version_of(session, template))


@router.patch("/{ref}", response_model=TemplateOut, summary="Edit a template (makes a new version)")
async def update_template(ref: Ref, req: TemplateUpdate, session: SessionDep, state: StateDep, principal: Writer
                          ) -> TemplateOut:
    template = await service.find(session, principal.workspace_id, ref)
    version, warnings = await service.update(session, state.renderer, template, req, principal.client_id)
    return service.to_out(template, version, warnings)


@router.delete("/{ref}", status_code=204, summary="Archive a template (messages keep their content)")
async def archive_template(ref: Ref, session: SessionDep, principal: Writer) -> Response:
    template = await service.find(session, principal.workspace_id, ref)
    template.archived = True
    template.name = f"{template.name}~{template.id}"  # frees the name for a new template
    return Response(status_code=204)


@router.get("/{ref}/versions", response_model=list[VersionOut], summary="The versions of a template")
async def versions(ref: Ref, session: SessionDep, principal: Reader) -> list[VersionOut]:
    template = await service.find(session, principal.workspace_id, ref)
    rows = await session.scalars(select(TemplateVersion).where(TemplateVersion.template_id == template.id)
                                 .order_by(TemplateVersion.version.desc()))
    return [VersionOut(version=v.version, default_locale=v.default_locale, locales=sorted(v.variants),
                       created_by=v.created_by, created_at=v.created_at) for v in rows]


@router.get("/{ref}/versions/{number}", response_model=TemplateOut, summary="One version of a template")
async def version(ref: Ref, number: Annotated[int, Path(ge=1)], session: SessionDep, principal: Reader
                  ) -> TemplateOut:
    template = await service.find(session, principal.workspace_id, ref)
    return service.to_out(template, await service.version_of(session, template, number))


@router.post("/{ref}/preview", response_model=PreviewOut, summary="Render with sample data, with analysis")
async def preview(ref: Ref, req: PreviewRequest, session: SessionDep, state: StateDep, principal: Reader
                  ) -> PreviewOut:
    template = await service.find(session, principal.workspace_id, ref)
    version = await service.version_of(session, template, req.version)
    workspace = await workspace_of(session, principal)
    limit = state.settings.sms_max_segments
    rendered = service.render_version(
        state.renderer, template, version, workspace, data=req.data or version.sample_data, locale=req.locale,
        overrides=req.overrides, message={"id": "msg_preview", "channel": template.channel}, sms_max_segments=limit)
    return PreviewOut(template_id=template.id, version=version.version, locale=rendered.locale,
                      parts=rendered.parts, analysis=analyse(template.channel, rendered.parts, limit))


def analyse(channel: str, parts: dict[str, Any], sms_max_segments: int) -> dict[str, Any]:
    if channel == "sms":
        return dataclasses.asdict(segments.analyze(parts["body"], max_segments=sms_max_segments))
    if channel == "email":
        return dataclasses.asdict(email_build.email_summary(parts["subject"], parts.get("html"), parts.get("text")))
    if channel == "push":
        return push.payload_sizes(parts.get("title"), parts["body"], image_url=parts.get("image_url"),
                                  data=parts.get("data"), kind=parts.get("kind", "basic"))
    return {"bytes": len(json.dumps(parts.get("json", "")).encode())}
