"""Templates: create, edit (each edit a new version), find by id or name, and render for a send."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald import errors, ids
from herald.auth.models import Workspace
from herald.auth.service import audit
from herald.templates import render as rendering
from herald.templates.liquid import Renderer
from herald.templates.models import Template, TemplateVersion
from herald.templates.prepare import prepare
from herald.templates.schemas import TemplateCreate, TemplateOut, TemplateUpdate


def to_out(t: Template, v: TemplateVersion, warnings: list[dict[str, Any]] | None = None) -> TemplateOut:
    return TemplateOut(
        id=t.id, name=t.name, channel=t.channel, description=t.description, version=v.version,
        default_locale=v.default_locale, locales=sorted(v.variants), variants=v.sources, prepared=v.variants,
        sample_data=v.sample_data, warnings=warnings or [], created_at=t.created_at, updated_at=t.updated_at,
    )


async def create(session: AsyncSession, renderer: Renderer, workspace_id: str, req: TemplateCreate, actor: str
                 ) -> tuple[Template, TemplateVersion, list[dict[str, Any]]]:
    prepared = prepare(renderer, req.channel, req.variants, req.default_locale, req.sample_data)
    template = Template(id=ids.new_id("tpl"), workspace_id=workspace_id, name=req.name, channel=req.channel,
                        description=req.description, current_version=1, archived=False)
    session.add(template)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise errors.Conflict(f"A template named {req.name!r} exists already.", code="template_name_taken",
                              field="name") from exc
    version = _version(template, 1, prepared.default_locale, prepared.variants, prepared.sources, req.sample_data,
                       actor)
    session.add(version)
    audit(session, workspace_id, actor, "template.created", template.id, {"name": req.name, "version": 1})
    return template, version, prepared.warnings


async def update(session: AsyncSession, renderer: Renderer, template: Template, req: TemplateUpdate, actor: str
                 ) -> tuple[TemplateVersion, list[dict[str, Any]]]:
    current = await version_of(session, template)
    sample = req.sample_data if req.sample_data is not None else current.sample_data
    prepared = prepare(renderer, template.channel, req.variants or current.sources,
                       req.default_locale or current.default_locale, sample)
    if req.description is not None:
        template.description = req.description
    template.current_version += 1
    template.updated_at = datetime.now(UTC)
    version = _version(template, template.current_version, prepared.default_locale, prepared.variants,
                       prepared.sources, sample, actor)
    session.add(version)
    audit(session, template.workspace_id, actor, "template.updated", template.id,
          {"version": template.current_version})
    return version, prepared.warnings


def _version(t: Template, number: int, default_locale: str, variants: dict[str, Any], sources: dict[str, Any],
             sample: dict[str, Any], actor: str) -> TemplateVersion:
    return TemplateVersion(id=ids.new_id("tpv"), template_id=t.id, version=number, default_locale=default_locale,
                           variants=variants, sources=sources, sample_data=sample, created_by=actor)


async def find(session: AsyncSession, workspace_id: str, ref: str) -> Template:
    """By id or by name; archived templates are not found."""
    template = await session.scalar(select(Template).where(
        Template.workspace_id == workspace_id, Template.archived.is_(False),
        or_(Template.id == ref, Template.name == ref)))
    if template is None:
        raise errors.NotFound(f"No template {ref!r} in this workspace.", code="template_not_found")
    return template


async def version_of(session: AsyncSession, template: Template, number: int | None = None) -> TemplateVersion:
    wanted = number or template.current_version
    version = await session.scalar(select(TemplateVersion).where(
        TemplateVersion.template_id == template.id, TemplateVersion.version == wanted))
    if version is None:
        raise errors.NotFound(f"Template {template.name!r} has no version {wanted}.", code="version_not_found",
                              field="version")
    return version


LINKS = "message.links"
_USES_LINKS: dict[tuple[str, int], bool] = {}


def uses_links(version: TemplateVersion, overrides: dict[str, Any] | None = None) -> bool:
    """Whether the version (or a send's overrides) places ``message.links`` (the dynamic opt-in and opt-out
    links): they are signed per recipient only then. Remembered per version: a campaign asks once a message."""
    if overrides and any(LINKS in v for v in overrides.values() if isinstance(v, str)):
        return True
    key = (version.template_id, version.version)
    found = _USES_LINKS.get(key)
    if found is None:
        if len(_USES_LINKS) > 4096:
            _USES_LINKS.clear()
        found = _USES_LINKS[key] = any(LINKS in value for parts in (version.sources or {}).values()
                                       for value in parts.values() if isinstance(value, str))
    return found


def variables(workspace: Workspace, data: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """What a template sees: the caller's data, plus ``workspace`` and ``message`` that Herald sets."""
    return {**data, "workspace": {"id": workspace.id, "name": workspace.name, "locale": workspace.default_locale,
                                  "timezone": workspace.timezone}, "message": message}


def render_version(renderer: Renderer, template: Template, version: TemplateVersion, workspace: Workspace, *,
                   data: dict[str, Any], locale: str | None, overrides: dict[str, Any] | None,
                   message: dict[str, Any], sms_max_segments: int) -> rendering.Rendered:
    chosen = rendering.choose_locale(version.variants, locale, version.default_locale, workspace.default_locale)
    values = variables(workspace, data, {**message, "locale": chosen})
    return rendering.render(renderer, template.channel, version.variants, version.sources, locale=chosen,
                            variables=values, overrides=overrides, sms_max_segments=sms_max_segments)
