"""The CRM settings: their defaults, what each kind of CRM cannot do without, the bounds, and a token
that never shows."""

from __future__ import annotations

import pytest

from supportdesk.config import load_settings
from supportdesk.config.errors import SettingsError

TOKEN = "crm-token-not-real-5e1f"


def _refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert TOKEN not in message
    return message


def test_by_default_there_is_no_crm_and_answers_stay_an_hour_in_memory() -> None:
    settings = load_settings()

    assert settings.crm_kind == "none"
    assert (settings.crm_url, settings.crm_token) == (None, None)
    assert settings.crm_timeout_seconds == 5
    assert (settings.crm_cache_url, settings.crm_cache_seconds) == ("mem://", 3600)
    assert (settings.crm_breaker_threshold, settings.crm_breaker_seconds) == (5, 30)


def test_a_json_crm_is_read_with_its_url_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SUPPORTDESK_CRM_KIND": "json",
        "SUPPORTDESK_CRM_URL": "https://crm.example.com/api/",
        "SUPPORTDESK_CRM_TOKEN": TOKEN,
        "SUPPORTDESK_CRM_TIMEOUT_SECONDS": "2.5",
        "SUPPORTDESK_CRM_CACHE_URL": "redis://cache.internal:6379/2",
        "SUPPORTDESK_CRM_CACHE_SECONDS": "600",
        "SUPPORTDESK_CRM_BREAKER_THRESHOLD": "3",
        "SUPPORTDESK_CRM_BREAKER_SECONDS": "12.5",
    }.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()

    assert settings.crm_kind == "json"
    # Without its trailing slash, so that API paths can be appended.
    assert settings.crm_url == "https://crm.example.com/api"
    assert settings.crm_token is not None
    assert settings.crm_token.get_secret_value() == TOKEN
    assert settings.crm_timeout_seconds == 2.5
    assert settings.crm_cache_url == "redis://cache.internal:6379/2"
    assert settings.crm_cache_seconds == 600
    assert (settings.crm_breaker_threshold, settings.crm_breaker_seconds) == (3, 12.5)


def test_hubspot_needs_only_a_token_which_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORTDESK_CRM_KIND", "hubspot")
    monkeypatch.setenv("SUPPORTDESK_CRM_TOKEN", TOKEN)

    settings = load_settings()

    assert (settings.crm_kind, settings.crm_url) == ("hubspot", None)
    assert TOKEN not in repr(settings)
    assert TOKEN not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("variables", "wording"),
    [
        pytest.param(
            {"SUPPORTDESK_CRM_KIND": "json"},
            "SUPPORTDESK_CRM_KIND=json needs SUPPORTDESK_CRM_URL and SUPPORTDESK_CRM_TOKEN",
            id="json-without-url-or-token",
        ),
        pytest.param(
            {"SUPPORTDESK_CRM_KIND": "json", "SUPPORTDESK_CRM_TOKEN": TOKEN},
            "SUPPORTDESK_CRM_KIND=json needs SUPPORTDESK_CRM_URL",
            id="json-without-url",
        ),
        pytest.param(
            {"SUPPORTDESK_CRM_KIND": "json", "SUPPORTDESK_CRM_URL": "https://crm.example.com"},
            "SUPPORTDESK_CRM_KIND=json needs SUPPORTDESK_CRM_TOKEN",
            id="json-without-token",
        ),
        pytest.param(
            {"SUPPORTDESK_CRM_KIND": "hubspot"},
            "SUPPORTDESK_CRM_KIND=hubspot needs SUPPORTDESK_CRM_TOKEN",
            id="hubspot-without-token",
        ),
    ],
)
def test_a_crm_without_what_it_needs_is_refused(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], wording: str
) -> None:
    assert _refusal(monkeypatch, **variables) == wording


@pytest.mark.parametrize(
    ("setting", "value", "wording"),
    [
        pytest.param("KIND", "salesforce", "'none', 'json' or 'hubspot'", id="unknown-kind"),
        pytest.param("URL", "crm.example.com", "must start with https:// or http://", id="no-scheme"),
        pytest.param("TOKEN", "", "must not be empty", id="empty-token"),
        pytest.param("TIMEOUT_SECONDS", "0", "greater than 0", id="zero-timeout"),
        pytest.param("TIMEOUT_SECONDS", "121", "less than or equal to 120", id="over-two-minutes"),
        pytest.param("CACHE_URL", "memcached://cache:11211", "mem://, redis:// or rediss://", id="memcached"),
        pytest.param("CACHE_SECONDS", "-1", "greater than or equal to 0", id="negative-cache-time"),
        pytest.param("CACHE_SECONDS", "86401", "less than or equal to 86400", id="cached-over-a-day"),
        pytest.param("BREAKER_THRESHOLD", "0", "greater than or equal to 1", id="no-threshold"),
        pytest.param("BREAKER_SECONDS", "0", "greater than 0", id="breaker-never-open"),
        pytest.param("BREAKER_SECONDS", "3601", "less than or equal to 3600", id="breaker-open-for-hours"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, setting: str, value: str, wording: str
) -> None:
    name = f"SUPPORTDESK_CRM_{setting}"
    message = _refusal(monkeypatch, **{name: value})

    assert message.startswith(f"{name}: ")
    assert wording in message


def test_a_refused_setting_does_not_show_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _refusal(
        monkeypatch,
        SUPPORTDESK_CRM_KIND="json",
        SUPPORTDESK_CRM_TOKEN=TOKEN,
        SUPPORTDESK_CRM_URL="ftp://crm.example.com",
    )

    assert message.startswith("SUPPORTDESK_CRM_URL: ")
