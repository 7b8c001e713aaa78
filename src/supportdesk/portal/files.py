"""Files in the customer portal: a signed-in customer downloads the files of their own tickets' public
comments, and nothing else. What the portal's forms send with a request or a reply is read by
:func:`uploads_of`, through the same checks as the API's upload."""

from __future__ import annotations

from fastapi import Response
from starlette.datastructures import FormData

from supportdesk.core.errors import NotFound
from supportdesk.core.schemas import MAX_ID
from supportdesk.portal import service
from supportdesk.portal.pages import Portal, PortalDep, portal_router
from supportdesk.tickets import attachments
from supportdesk.web.pages import chosen_files, ticket_in_range

router = portal_router()


async def uploads_of(portal: Portal, posted: FormData) -> list[attachments.Upload]:
    """The files chosen in a portal form, refused (``InvalidInput``, or the scanner's errors) with the
    API's messages when there are too many, one is too large, or the scanner refuses one."""
    return await attachments.read_uploads(
        chosen_files(posted), attachments.AttachmentRules.of(portal.settings)
    )


@router.get("/tickets/{ticket_id:int}/files/{attachment_id:int}")
async def download(ticket_id: int, attachment_id: int, portal: PortalDep) -> Response:
    """A file of the customer's ticket, served as the API serves it (pictures of a few safe types
    inline, everything else as bytes to download) with the portal's page headers besides. Another
    customer's file, an internal note's, or an id nobody has is not found."""
    customer = portal.signed_in()
    ticket_id = ticket_in_range(ticket_id)
    if not 0 < attachment_id <= MAX_ID:
        # An id no file can have, answered before the database is asked (it may not even hold it).
        raise NotFound("No such file")
    found = await service.public_attachment(portal.session, customer.id, ticket_id, attachment_id)
    return await attachments.download(portal.request.app.state.file_store, found)
