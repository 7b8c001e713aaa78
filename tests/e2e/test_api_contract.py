"""The API keeps the promises of its own OpenAPI schema, for generated valid and invalid requests.

Schemathesis generates requests for every operation from the schema the application publishes and
sends them to a live server on each database. Every check is on: no response is a server error,
every status code, media type, header and body is the documented one, invalid requests are refused
and valid ones are accepted. Generated ids, ETags, cursors and categories are first replaced by ones
the server has (see ``realistic.py``), because only those make a schema-valid request valid.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from schemathesis import Case

from tests.e2e.api_schema import DERANDOMIZE, load_schema
from tests.e2e.conftest import LiveServer
from tests.e2e.realistic import Realistic, remember_outcome

schema = load_schema()

# Each example is a real request over the loopback, and there are two servers: a handful per
# operation keeps the run short while still sending every operation valid and invalid requests.
EXAMPLES_PER_OPERATION = 6
# Shrinking a failure replays it dozens of times against the server; the first failing request is
# reported as it is, which keeps a red run about as short as a green one.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate]


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    phases=PHASES,
    derandomize=DERANDOMIZE,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_honours_its_contract(case: Case[Any], live_server: LiveServer) -> None:
    # Hypothesis seeds ``random`` for every example, so the choices repeat when an example is replayed.
    Realistic(case, live_server, live_server.client(), random.choice).apply(draw_ids=True)
    response = case.call_and_validate(base_url=live_server.base_url, headers=live_server.auth_headers)
    remember_outcome(case, live_server, response.status_code)
