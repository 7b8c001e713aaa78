"""Attachments kept in an S3 bucket: uploaded through the API into the bucket, below the configured
prefix, and served from it a piece at a time, as from the folder."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.config import Settings
from supportdesk.core.storage import CHUNK_BYTES
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.s3 import S3_BUCKET, S3Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prefix() -> str:
    # One prefix for the module: the app is wired once per configuration, and a prefix per test would
    # wire it again for each.
    return f"tests/{uuid.uuid4().hex}"


@pytest.fixture
def settings(engine: AsyncEngine, s3_server: S3Server, prefix: str) -> Settings:
    return s3_server.settings(
        f"s3://{S3_BUCKET}/{prefix}", database_url=engine.url.render_as_string(hide_password=False)
    )


# Where files are kept does not depend on the database, so one backend is enough.
@pytest.mark.parametrize("db_backend", [pytest.param("sqlite", id="sqlite")], indirect=True)
async def test_a_file_goes_into_the_bucket_and_comes_back_whole(
    agent_client: ApiClient, ticket_factory: TicketFactory, s3_server: S3Server, prefix: str
) -> None:
    ticket = await ticket_factory()
    # Larger than one piece of a download, and different in every run.
    data = uuid.uuid4().bytes * (CHUNK_BYTES // 16 + 3)

    response = await agent_client.post(
        f"/api/v1/tickets/{ticket.id}/attachments",
        data={"content": "The export, as promised."},
        files=[("files", ("export.csv", data, "text/csv"))],
    )

    assert response.status_code == 201, response.text
    [attachment] = response.json()["attachments"]
    digest = hashlib.sha256(data).hexdigest()
    assert attachment["sha256"] == digest
    key = f"{prefix}/{digest[:2]}/{digest[2:4]}/{digest}"
    assert s3_server.client.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read() == data
    download = await agent_client.get(attachment["url"])
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-length"] == str(len(data))
