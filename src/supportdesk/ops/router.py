"""Liveness, readiness and the Prometheus scrape endpoint (the metrics themselves are in :mod:`.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import text

from supportdesk.db import migrate
from supportdesk.db.session import Database

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and migrated")
async def readyz(request: Request) -> JSONResponse:
    database: Database = request.app.state.database
    try:
        async with database.new_session(readonly=True) as session:
            connection = await session.connection()
            await connection.execute(text("SELECT 1"))
            migrated = await migrate.revision_on(connection) == migrate.head_revision()
    except Exception as error:  # noqa: BLE001  (any failure means not ready; the reason is reported)
        return JSONResponse(
            {"status": "unavailable", "database": f"unreachable: {type(error).__name__}"}, 503
        )
    if not migrated:
        return JSONResponse({"status": "unavailable", "database": "not migrated"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
