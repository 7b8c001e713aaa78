"""The object cache's settings: in memory for five minutes by default, Redis when named, 0 turns it off."""

from __future__ import annotations

import pytest

from supportdesk.config import load_settings
from supportdesk.config.errors import SettingsError


def test_by_default_objects_are_kept_five_minutes_in_memory() -> None:
    settings = load_settings()

    assert (settings.object_cache_url, settings.object_cache_seconds) == ("mem://", 300)


@pytest.mark.parametrize(
    ("url", "seconds"),
    [
        pytest.param("redis://cache.internal:6379/3", "60", id="redis"),
        pytest.param("rediss://cache.internal:6380/0", "1", id="redis-over-tls"),
        pytest.param("mem://?size=50000", "0", id="memory-turned-off"),
    ],
)
def test_a_cache_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, url: str, seconds: str
) -> None:
    monkeypatch.setenv("SUPPORTDESK_OBJECT_CACHE_URL", url)
    monkeypatch.setenv("SUPPORTDESK_OBJECT_CACHE_SECONDS", seconds)

    settings = load_settings()

    assert (settings.object_cache_url, settings.object_cache_seconds) == (url, int(seconds))


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param(
            "SUPPORTDESK_OBJECT_CACHE_URL",
            "memcached://cache:11211",
            "SUPPORTDESK_OBJECT_CACHE_URL: must start with mem://, redis:// or rediss://",
            id="unknown-backend",
        ),
        pytest.param(
            "SUPPORTDESK_OBJECT_CACHE_SECONDS",
            "-1",
            "SUPPORTDESK_OBJECT_CACHE_SECONDS: Input should be greater than or equal to 0",
            id="negative-time",
        ),
        pytest.param(
            "SUPPORTDESK_OBJECT_CACHE_SECONDS",
            "86401",
            "SUPPORTDESK_OBJECT_CACHE_SECONDS: Input should be less than or equal to 86400",
            id="more-than-a-day",
        ),
    ],
)
def test_a_bad_value_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert str(raised.value) == expected
