"""The API keeps the promises of its own OpenAPI schema, for generated valid and invalid requests.

Schemathesis generates requests for every operation from the schema the application publishes; each
response from the live server must not be a server error and must match the documented status codes,
media types and bodies.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance

from supportdesk.app import create_app
from supportdesk.core.emails import is_valid_email
from tests.e2e.conftest import LiveServer
from tests.fixtures.database import make_settings

# The API's "email" format is an address mail can be delivered to: reserved names such as ``.test``
# are refused, so generated "valid" addresses come from the same validator the API uses.
schemathesis.openapi.format("email", st.emails().filter(is_valid_email))

# Operations that would end the test's own session; they have their own integration tests.
schema = (
    schemathesis.openapi.from_dict(create_app(make_settings()).openapi())
    .exclude(path="/api/v1/auth/logout")
    .exclude(path="/api/v1/me/tokens/{token_id}")
)


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_contract(case: Case[Any], live_server: LiveServer) -> None:
    # Acceptance of every schema-valid request cannot hold here: cursors, ETags and idempotency keys
    # are issued by the server, and categories are configured per workspace, so a well-formed but
    # unknown value is rightly a 412 or a 422. Every other check runs, including that invalid
    # requests are refused.
    case.call_and_validate(
        base_url=live_server.base_url,
        headers=live_server.auth_headers,
        excluded_checks=[positive_data_acceptance],
    )
