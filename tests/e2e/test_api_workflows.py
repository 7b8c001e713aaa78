"""Sequences of requests keep the contract too: create an object, then read, update and use it.

Schemathesis's state machine follows the OpenAPI links added in ``api_schema.py``: a created ticket's
id and ETag feed its read, update, comments and macros; a created customer, user, calendar, policy,
trigger or macro is read and changed by the id the server gave it. Every response of every step goes
through all of schemathesis's checks, including that valid requests are accepted.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import Case

from tests.e2e.api_schema import DERANDOMIZE, load_schema
from tests.e2e.conftest import LiveServer
from tests.e2e.realistic import Realistic, remember_outcome

schema = load_schema()

# Scenarios and the steps each may take; both bounded so the run stays short on two servers.
SCENARIOS = 8
STEPS_PER_SCENARIO = 6


@pytest.mark.slow
def test_linked_requests_honour_the_contract(live_server: LiveServer) -> None:
    machine = schema.as_state_machine()

    class AgainstTheLiveServer(machine):  # type: ignore[misc, valid-type]
        """The state machine, sending its requests to the live server as the admin."""

        def before_call(self, case: Case[Any]) -> None:
            # Ids that came through a link are real already; state the links cannot carry (the
            # workspace's categories, a fresh idempotency key, an agent to assign) is filled in.
            Realistic(case, live_server, live_server.client(), random.choice).apply(draw_ids=False)

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"base_url": live_server.base_url, "headers": live_server.auth_headers}

        def after_call(self, response: Any, case: Case[Any]) -> None:
            super().after_call(response, case)
            remember_outcome(case, live_server, response.status_code)

    run_state_machine_as_test(
        AgainstTheLiveServer,
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS_PER_SCENARIO,
            # As in the contract test: a failing sequence is reported as found, not replayed to shrink it.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            derandomize=DERANDOMIZE,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
