"""Views for the rest of the accounting archive (docs/records.md) and for what follows
archiving: holds, appraisal, destruction and transfer (docs/disposition.md)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from invoice_archive.errors import Invalid
from invoice_archive.security import Permissions as P
from invoice_archive.services.archive import ArchiveService
from invoice_archive.services.disposition import DispositionService, finish, hold_json, item_states
from invoice_archive.services.filing import china_today, waivers_from
from invoice_archive.services.records import RecordService
from invoice_archive.services.transfers import TransferService, transfer_json
from invoice_archive.views.api import api_view, json_body, query_int
from invoice_archive.views.presenters import appraisal_json, destruction_json, item_json


def _items_json(request: Any, items: list[Any]) -> list[dict[str, Any]]:
    related = request.find_service(ArchiveService).related(items)
    states = item_states(request.db, items)
    return [item_json(i, related[i.id], states[i.id]) for i in items]


def _path_id(request: Any, name: str) -> Any:
    return request.openapi_validated.parameters.path[name]


# -- records: ledgers, reports, statements ------------------------------------------------------------

@api_view(route_name="archive.records", request_method="POST", permission=P.ARCHIVE_RECORDS)
def archive_records(request: Any) -> Any:
    body = json_body(request)
    run = request.find_service(RecordService).archive_period(
        body["fiscal_year"], body["period"], sources=body.get("sources"),
        waivers=waivers_from(body.get("waive"), request.identity.name))
    request.db.flush()
    request.response.status_int = 201
    return {"archived": _items_json(request, run.archived), "already_archived": run.already, "failed": run.failed,
            "sources": run.sources}


@api_view(route_name="archive.custody_lists", request_method="POST", permission=P.ARCHIVE_RECORDS)
def custody_list(request: Any) -> Any:
    body = json_body(request)
    item = request.find_service(DispositionService).custody_list(
        body["fiscal_year"], waivers=waivers_from(body.get("waive"), request.identity.name))
    request.db.flush()
    request.response.status_int = 201
    return _items_json(request, [item])[0]


# -- holds for unsettled matters ---------------------------------------------------------------------------

@api_view(route_name="archive.holds", request_method="POST", permission=P.ARCHIVE_HOLD)
def place_hold(request: Any) -> Any:
    body = json_body(request)
    hold = request.find_service(DispositionService).place_hold(body["item_id"], body["matter"], body["reason"])
    request.db.flush()
    request.response.status_int = 201
    return hold_json(hold)


@api_view(route_name="archive.holds", request_method="GET", permission=P.ARCHIVE_READ)
def list_holds(request: Any) -> Any:
    q = request.openapi_validated.parameters.query
    rows, total = request.find_service(DispositionService).holds(
        item_id=query_int(request, "item_id"), active=q.get("active"), limit=query_int(request, "limit", 50),
        offset=query_int(request, "offset", 0))
    return {"items": [hold_json(h) for h in rows], "total": total}


@api_view(route_name="archive.hold_release", request_method="POST", permission=P.ARCHIVE_HOLD)
def release_hold(request: Any) -> Any:
    hold = request.find_service(DispositionService).release_hold(_path_id(request, "hold_id"),
                                                                 json_body(request)["reason"])
    return hold_json(hold)


# -- appraisal ------------------------------------------------------------------------------------------------

@api_view(route_name="archive.appraisals", request_method="POST", permission=P.ARCHIVE_APPRAISE)
def appraise(request: Any) -> Any:
    body = json_body(request)
    as_of = body.get("as_of")
    try:
        as_of = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise Invalid(f"鉴定基准日 {as_of!r} 不是 YYYY-MM-DD 日期。", code="invalid_date") from None
    appraisal = request.find_service(DispositionService).appraise(
        as_of=as_of, participants=body["participants"], opinion=body["opinion"], retain=body.get("retain") or (),
        waivers=waivers_from(body.get("waive"), request.identity.name))
    request.response.status_int = 201
    return appraisal_json(appraisal)


@api_view(route_name="archive.appraisals", request_method="GET", permission=P.ARCHIVE_READ)
def due_for_appraisal(request: Any) -> Any:
    """The items whose retention has ended by ``as_of`` (default today): what an appraisal would take."""
    as_of = request.openapi_validated.parameters.query.get("as_of") or china_today()
    items = request.find_service(DispositionService).due(as_of)
    return {"as_of": as_of, "items": _items_json(request, items), "total": len(items)}


@api_view(route_name="archive.appraisal", request_method="GET", permission=P.ARCHIVE_READ)
def get_appraisal(request: Any) -> Any:
    return appraisal_json(request.find_service(DispositionService).appraisal(_path_id(request, "appraisal_id")))


# -- destruction ------------------------------------------------------------------------------------------------

@api_view(route_name="archive.destructions", request_method="POST", permission=P.ARCHIVE_DESTROY)
def propose_destruction(request: Any) -> Any:
    body = json_body(request)
    destruction = request.find_service(DispositionService).propose(body["appraisal_id"], body.get("item_ids"))
    request.response.status_int = 201
    return destruction_json(destruction)


@api_view(route_name="archive.destruction", request_method="GET", permission=P.ARCHIVE_READ)
def get_destruction(request: Any) -> Any:
    return destruction_json(request.find_service(DispositionService).destruction(_path_id(request, "destruction_id")))


@api_view(route_name="archive.destruction_approve", request_method="POST", permission=P.ARCHIVE_APPROVE)
@api_view(route_name="archive.destruction_refuse", request_method="POST", permission=P.ARCHIVE_APPROVE)
def decide_destruction(request: Any) -> Any:
    body = json_body(request)
    decision = "approve" if request.matched_route.name.endswith("approve") else "refuse"
    destruction = request.find_service(DispositionService).decide(
        _path_id(request, "destruction_id"), decision, body["capacity"], body.get("opinion"))
    request.db.flush()
    return destruction_json(destruction)


@api_view(route_name="archive.destruction_execute", request_method="POST", permission=P.ARCHIVE_DESTROY)
def execute_destruction(request: Any) -> Any:
    """Phase 1 (监销 record, tombstones) in this request's transaction; once it commits, the
    content is removed and the final list archived (phases 2 and 3, after commit: the
    tombstones are never behind the removal). 202: GET the list for its outcome; an
    interrupted execution is resumed by calling this again."""
    body = json_body(request)
    service = request.find_service(DispositionService)
    destruction = service.begin_execution(_path_id(request, "destruction_id"), supervisors=body["supervisors"],
                                          counted=body.get("counted"))
    request.db.flush()
    waivers = waivers_from(body.get("waive"), request.identity.name)
    registry, ident, number = request.registry, request.identity, destruction.id
    archive = registry.app_settings.archive

    def after(ok: bool) -> None:
        if ok:
            finish(registry["db.session_factory"], registry["archive.store"], registry["archive.scanner"],
                   archive.retention, org_id=ident.org_id, actor=ident.name, role=ident.role,
                   destruction_id=number, waivers=waivers)

    request.tm.get().addAfterCommitHook(after)
    request.response.status_int = 202
    request.response.headers["Location"] = request.route_path("archive.destruction", destruction_id=destruction.id)
    return destruction_json(destruction)


# -- transfer ---------------------------------------------------------------------------------------------------

@api_view(route_name="archive.transfers", request_method="POST", permission=P.ARCHIVE_TRANSFER)
def prepare_transfer(request: Any) -> Any:
    body = json_body(request)
    transfer = request.find_service(TransferService).prepare(body["fiscal_year"], body["receiver_unit"])
    request.response.status_int = 201
    return transfer_json(transfer)


@api_view(route_name="archive.transfer", request_method="GET", permission=P.ARCHIVE_READ)
def get_transfer(request: Any) -> Any:
    return transfer_json(request.find_service(TransferService).get(_path_id(request, "transfer_id")))


@api_view(route_name="archive.transfer_sign", request_method="POST", permission=P.ARCHIVE_SIGN)
def sign_transfer(request: Any) -> Any:
    body = json_body(request)
    transfer = request.find_service(TransferService).sign(
        _path_id(request, "transfer_id"), body["role"], unit=body.get("unit"), comment=body.get("comment"),
        waivers=waivers_from(body.get("waive"), request.identity.name))
    request.db.flush()
    return transfer_json(transfer)


@api_view(route_name="archive.transfer_cancel", request_method="POST", permission=P.ARCHIVE_TRANSFER)
def cancel_transfer(request: Any) -> Any:
    transfer = request.find_service(TransferService).cancel(_path_id(request, "transfer_id"),
                                                            json_body(request)["reason"])
    return transfer_json(transfer)


@api_view(route_name="archive.transfer_package", request_method="GET", permission=P.ARCHIVE_DOWNLOAD,
          renderer=None)
def transfer_package(request: Any) -> Any:
    from invoice_archive.views.resources import _download
    from invoice_archive.digests import sha256_hex

    transfer, data = request.find_service(TransferService).package(_path_id(request, "transfer_id"))
    return _download(data, "application/zip", f"{transfer.number}.zip", sha256_hex(data))
