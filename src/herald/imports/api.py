"""CSV imports: upload into a list (or only into contacts), or into a do-not-contact list; follow progress;
download the failed rows. The body is either the CSV itself (``Content-Type: text/csv``, options in the query)
or ``multipart/form-data`` with a ``file`` part and the options as form fields."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from herald import csvsafe, errors
from herald.auth.tokens import Principal
from herald.deps import SessionDep, StateDep, require
from herald.imports import service
from herald.imports.models import Import
from herald.lists import service as lists
from herald.problems import COMMON_RESPONSES
from herald.suppressions import service as suppressions

router = APIRouter(tags=["imports"], responses={**COMMON_RESPONSES})
Reader = Annotated[Principal, Depends(require("contacts:read"))]
Writer = Annotated[Principal, Depends(require("contacts:write"))]
DncWriter = Annotated[Principal, Depends(require("suppressions:write"))]
Ref = Annotated[str, Path(max_length=200)]
ImportId = Annotated[str, Path(max_length=64)]
UPLOAD = {"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}},
                                      "multipart/form-data": {"schema": {"type": "object", "properties": {
                                          "file": {"type": "string", "format": "binary"}}}}}}}


class ImportOut(BaseModel):
    id: str
    state: str
    list_id: str | None
    dnc_list_id: str | None
    filename: str | None
    size_bytes: int
    encoding: str
    delimiter: str
    header: list[str]
    mapping: dict[str, Any]
    options: dict[str, Any]
    rows_done: int
    created: int
    updated: int
    unchanged: int
    failed: int
    error: str | None
    failures_url: str


def to_out(imp: Import) -> ImportOut:
    return ImportOut(id=imp.id, state=imp.state, list_id=imp.list_id, dnc_list_id=imp.dnc_list_id,
                     filename=imp.filename, size_bytes=imp.size_bytes, encoding=imp.encoding,
                     delimiter=imp.delimiter, header=imp.header, mapping=imp.mapping, options=imp.options,
                     rows_done=imp.rows_done, created=imp.created, updated=imp.updated, unchanged=imp.unchanged,
                     failed=imp.failed, error=imp.error, failures_url=f"/v1/imports/{imp.id}/failures.csv")


async def _body(request: Request) -> tuple[AsyncIterator[bytes], dict[str, Any]]:
    """The file's bytes and the options, from either body form."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    options: dict[str, Any] = dict(request.query_params)
    if kind == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise errors.Invalid("Send the CSV as a form part named 'file'.", code="file_required", field="file")
        options.update({k: v for k, v in form.items() if isinstance(v, str)})
        options.setdefault("filename", upload.filename)

        async def parts() -> AsyncIterator[bytes]:
            while block := await upload.read(service.CHUNK_BYTES):
                yield block

        return parts(), options
    if kind not in ("text/csv", "text/plain", "application/octet-stream", "application/vnd.ms-excel", ""):
        raise errors.Invalid(f"Send the file as text/csv or multipart/form-data, not {kind}.",
                             code="unsupported_media_type")
    return request.stream(), options


def _mapping(raw: Any) -> dict[str, str] | None:
    if raw in (None, ""):
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise errors.Invalid("mapping must be a JSON object of column -> target.", code="invalid_mapping",
                             field="mapping") from exc
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise errors.Invalid("mapping must be a JSON object of column -> target.", code="invalid_mapping",
                             field="mapping")
    return value


async def _start(request: Request, session: SessionDep, state: StateDep, principal: Principal, **target: Any
                 ) -> JSONResponse:
    stream, options = await _body(request)
    imp = await service.create(
        session, principal.workspace_id, stream, actor=principal.client_id,
        max_bytes=state.settings.max_import_bytes, filename=options.get("filename"),
        mapping=_mapping(options.get("mapping")), key=options.get("key") or None,
        region=options.get("region") or None, scope=options.get("scope") or "all", reason=options.get("reason"),
        **target)
    request.state.after_commit = state.wake_dispatcher
    return JSONResponse(to_out(imp).model_dump(mode="json"), status_code=202,
                        headers={"Location": f"/v1/imports/{imp.id}"})


@router.post("/v1/lists/{ref}/imports", status_code=202, response_model=ImportOut, openapi_extra=UPLOAD,
             summary="Import a CSV of contacts into a list (options: mapping, key, region)")
async def import_into_list(request: Request, ref: Ref, session: SessionDep, state: StateDep, principal: Writer
                           ) -> JSONResponse:
    target = await lists.get(session, principal.workspace_id, ref)
    return await _start(request, session, state, principal, contact_list=target)


@router.post("/v1/contacts/imports", status_code=202, response_model=ImportOut, openapi_extra=UPLOAD,
             summary="Import a CSV of contacts (no list)")
async def import_contacts(request: Request, session: SessionDep, state: StateDep, principal: Writer
                          ) -> JSONResponse:
    return await _start(request, session, state, principal)


@router.post("/v1/dnc-lists/{ref}/imports", status_code=202, response_model=ImportOut, openapi_extra=UPLOAD,
             summary="Import a CSV of addresses into a do-not-contact list (options: scope, reason, region)")
async def import_dnc(request: Request, ref: Ref, session: SessionDep, state: StateDep, principal: DncWriter
                     ) -> JSONResponse:
    target = await suppressions.get_list(session, principal.workspace_id, ref)
    return await _start(request, session, state, principal, dnc_list=target)


@router.get("/v1/imports/{import_id}", response_model=ImportOut, summary="An import's progress and counts")
async def get_import(import_id: ImportId, session: SessionDep, principal: Reader) -> ImportOut:
    return to_out(await service.get(session, principal.workspace_id, import_id))


@router.get("/v1/imports/{import_id}/failures", summary="The failed rows: line number, code and reason")
async def import_failures(import_id: ImportId, session: SessionDep, principal: Reader,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                          cursor: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    await service.get(session, principal.workspace_id, import_id)
    rows = await service.failures(session, import_id, after=cursor, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {"data": [{"row": f.row_number, "code": f.code, "reason": f.reason} for f in rows],
            "next_cursor": rows[-1].id if more and rows else None}


@router.get("/v1/imports/{import_id}/failures.csv", summary="The failed rows as CSV (spreadsheet-safe)",
            response_class=StreamingResponse)
async def import_failures_csv(import_id: ImportId, session: SessionDep, principal: Reader) -> StreamingResponse:
    imp = await service.get(session, principal.workspace_id, import_id)
    rows = await service.failures(session, import_id)
    body = csvsafe.rows(["row", "code", "reason"], ([f.row_number, f.code, f.reason] for f in rows))
    name = f"{imp.id}-failures.csv"
    return StreamingResponse(body, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
