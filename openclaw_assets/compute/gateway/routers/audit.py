"""Reading the provenance ledger: its signed head, its entries, the recorded decisions, inclusion proofs.

For the ``auditor`` role (and ``admin``): nothing here scores or changes state. The ledger is read
in a worker thread (it is a database), and a ledger that cannot be read answers 503.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Security

from openclaw_assets.compute.gateway.contract import (
    DecisionsResponse,
    EntriesResponse,
    ProofResponse,
    TreeHeadResponse,
)
from openclaw_assets.compute.gateway.errors import ApiError, documented
from openclaw_assets.compute.gateway.provenance import KIND, LedgerUnavailable
from openclaw_assets.compute.gateway.state import BEARER, GatewayState

MAX_LIMIT = 1000
MAX_SEQ = 2**53 - 1
"""Entry numbers beyond any ledger (and JSON's exact integers): refused with 422, not passed to the database."""


def _entry(entry: Any) -> dict[str, Any]:
    found = asdict(entry)
    found["inputs"] = list(entry.inputs)
    found["facts"] = dict(entry.facts)
    return found


def _only(*names: str):
    """A dependency that refuses query parameters other than ``names`` (422), as the contract promises."""

    async def check(request: Request) -> None:
        extra = sorted(set(request.query_params) - set(names))
        if extra:
            problems = [{"field": f"query.{name}", "problem": "unknown query parameter"} for name in extra]
            raise ApiError(422, "invalid_request", problems)

    return Depends(check)


def router(state: GatewayState) -> APIRouter:
    api = APIRouter(tags=["audit"], dependencies=[Security(BEARER), Depends(state.authorize)])

    async def read(function):
        import anyio

        try:
            return await anyio.to_thread.run_sync(state.ledger.read, function)
        except LedgerUnavailable as exc:
            raise ApiError(503, "ledger_unavailable", str(exc)) from None

    @api.get(
        "/v1/audit/head",
        response_model=TreeHeadResponse,
        summary="The ledger's newest signed tree head",
        responses=documented(401, 403, 404, 422, 503),
        dependencies=[_only()],
    )
    async def head():
        found = await read(lambda ledger: ledger.head())
        if found is None:
            raise ApiError(404, "empty_ledger", "the ledger has no signed tree head yet")
        return asdict(found)

    @api.get(
        "/v1/audit/entries",
        response_model=EntriesResponse,
        summary="Ledger entries in order, a page at a time",
        responses=documented(401, 403, 422, 503),
        dependencies=[_only("start", "limit")],
    )
    async def entries(
        start: int = Query(0, ge=0, le=MAX_SEQ, description="The first entry's seq."),
        limit: int = Query(100, ge=1, le=MAX_LIMIT, description=f"Entries at most (1 to {MAX_LIMIT})."),
    ):
        def page(ledger):
            return ledger.size(), [_entry(e) for e in ledger.entries(start, start + limit)]

        size, found = await read(page)
        return {"size": size, "start": start, "entries": found}

    @api.get(
        "/v1/audit/decisions",
        response_model=DecisionsResponse,
        summary="Recorded policy decisions (refused gateway requests among them), the newest first",
        responses=documented(401, 403, 422, 503),
        dependencies=[_only("limit")],
    )
    async def decisions(
        limit: int = Query(100, ge=1, le=MAX_LIMIT, description=f"Decisions at most (1 to {MAX_LIMIT})."),
    ):
        found = await read(lambda ledger: ledger.find(kind=KIND)[-limit:])
        return {"decisions": [_entry(e) for e in reversed(found)]}

    @api.get(
        "/v1/audit/proof/{seq}",
        response_model=ProofResponse,
        summary="The inclusion proof of one entry in the newest signed tree",
        responses=documented(401, 403, 404, 422, 503),
        dependencies=[_only()],
    )
    async def proof(seq: int = Path(ge=0, le=MAX_SEQ, description="The entry's seq.")):
        def prove(ledger):
            signed = ledger.head()
            if signed is None or seq >= signed.size:
                return signed, None, None
            return signed, ledger.entry(seq), ledger.inclusion_proof(seq, signed.size)

        signed, entry, path = await read(prove)
        if entry is None:
            size = signed.size if signed is not None else 0
            raise ApiError(404, "no_such_entry", f"entry {seq} is not in the signed tree of {size} entries")
        return {"seq": seq, "leaf_hash": entry.leaf_hash.hex(), "proof": path, "head": asdict(signed)}

    return api
