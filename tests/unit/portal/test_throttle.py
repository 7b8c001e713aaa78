"""The portal's rate limits: which requests are counted together, and when they are refused."""

from __future__ import annotations

import pytest
from limits.aio.storage import MemoryStorage

from supportdesk.core.errors import TooManyRequests
from supportdesk.portal.throttle import PortalThrottle
from tests.fixtures.database import make_settings


def _throttle(**limits: str) -> PortalThrottle:
    return PortalThrottle(make_settings(**limits), MemoryStorage())


async def test_the_form_refuses_an_address_after_its_share_and_no_other() -> None:
    throttle = _throttle(portal_requests_per_address="3/hour")
    for _ in range(3):
        await throttle.request("acme", "10.0.0.1")

    with pytest.raises(TooManyRequests) as refused:
        await throttle.request("acme", "10.0.0.1")

    assert 0 < refused.value.retry_after <= 3600
    await throttle.request("acme", "10.0.0.2")
    await throttle.request("globex", "10.0.0.1")


@pytest.mark.parametrize(
    ("second_email", "second_client", "refused"),
    [
        pytest.param("maria@example.com", "10.0.0.2", True, id="same-address-from-elsewhere"),
        pytest.param("MARIA@example.com ", "10.0.0.2", True, id="same-address-other-spelling"),
        pytest.param("sam@example.com", "10.0.0.2", False, id="another-address"),
    ],
)
async def test_sign_in_links_are_counted_per_address(
    second_email: str, second_client: str, refused: bool
) -> None:
    throttle = _throttle(portal_sign_in_per_email="2/hour", portal_sign_in_per_address="100/hour")
    await throttle.sign_in("acme", "maria@example.com", "10.0.0.1")
    await throttle.sign_in("acme", "maria@example.com", "10.0.0.1")

    if refused:
        with pytest.raises(TooManyRequests):
            await throttle.sign_in("acme", second_email, second_client)
    else:
        await throttle.sign_in("acme", second_email, second_client)


async def test_sign_in_links_are_counted_per_client_across_addresses() -> None:
    throttle = _throttle(portal_sign_in_per_email="100/hour", portal_sign_in_per_address="3/hour")
    for n in range(3):
        await throttle.sign_in("acme", f"person{n}@example.com", "10.0.0.1")

    with pytest.raises(TooManyRequests):
        await throttle.sign_in("acme", "someone.new@example.com", "10.0.0.1")
    await throttle.sign_in("acme", "someone.new@example.com", "10.0.0.9")


async def test_a_client_refused_for_its_own_count_uses_up_no_address() -> None:
    throttle = _throttle(portal_sign_in_per_email="1/hour", portal_sign_in_per_address="1/hour")
    await throttle.sign_in("acme", "first@example.com", "10.0.0.1")
    with pytest.raises(TooManyRequests):
        await throttle.sign_in("acme", "maria@example.com", "10.0.0.1")

    # The address was not counted by the refused attempt: its owner still gets a link.
    await throttle.sign_in("acme", "maria@example.com", "10.0.0.2")


@pytest.mark.parametrize("limit", ["", "none", "0/hour", "ten/hour"])
def test_a_limit_that_is_not_one_is_refused_at_start(limit: str) -> None:
    with pytest.raises(ValueError, match=r"positive number"):
        make_settings(portal_sign_in_per_email=limit)
