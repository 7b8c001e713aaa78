"""The file store's settings: a folder by default, a bucket when a URL names one, each value checked at
start-up with a message that names the variable, and a secret that never shows."""

from __future__ import annotations

import pytest

from supportdesk.config import load_settings
from supportdesk.config.errors import SettingsError

SECRET = "s3-secret-not-real-7c2a"


def _refusal(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert SECRET not in message
    return message


def test_by_default_files_are_kept_in_the_attachment_folder() -> None:
    settings = load_settings()

    assert settings.file_store_url is None
    assert settings.file_store_endpoint_url is None
    assert settings.file_store_region is None
    assert (settings.file_store_access_key_id, settings.file_store_secret_access_key) == (None, None)


def test_a_bucket_is_read_with_its_server_region_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "SUPPORTDESK_FILE_STORE_URL": "s3://desk-files/production/attachments/",
        "SUPPORTDESK_FILE_STORE_ENDPOINT_URL": "https://minio.internal:9000/",
        "SUPPORTDESK_FILE_STORE_REGION": "eu-central-1",
        "SUPPORTDESK_FILE_STORE_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "SUPPORTDESK_FILE_STORE_SECRET_ACCESS_KEY": SECRET,
    }.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()

    # Without the trailing slashes, so that keys and paths are joined with exactly one.
    assert settings.file_store_url == "s3://desk-files/production/attachments"
    assert settings.file_store_endpoint_url == "https://minio.internal:9000"
    assert settings.file_store_region == "eu-central-1"
    assert settings.file_store_access_key_id == "AKIAEXAMPLE"
    assert settings.file_store_secret_access_key is not None
    assert settings.file_store_secret_access_key.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_a_bucket_alone_leaves_credentials_and_region_to_the_aws_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPPORTDESK_FILE_STORE_URL", "s3://desk-files")

    settings = load_settings()

    assert settings.file_store_url == "s3://desk-files"
    assert (settings.file_store_access_key_id, settings.file_store_secret_access_key) == (None, None)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://desk-files.s3.amazonaws.com", id="not-s3"),
        pytest.param("", id="empty"),
        pytest.param("s3://", id="no-bucket"),
        pytest.param("s3://Desk-Files", id="upper-case"),
        pytest.param("s3://ab", id="too-short"),
        pytest.param("s3://" + "a" * 64, id="too-long"),
        pytest.param("s3://-desk", id="leading-hyphen"),
        pytest.param("s3://desk..files", id="two-dots"),
        pytest.param(f"s3://key:{SECRET}@desk-files", id="credentials-in-the-url"),
        pytest.param("s3://desk-files/a//b", id="empty-part"),
        pytest.param("s3://desk-files/a/../b", id="dot-dot"),
        pytest.param("s3://desk-files/with space", id="space"),
        pytest.param("s3://desk-files/" + "a" * 513, id="long-prefix"),
    ],
)
def test_only_a_bucket_with_a_plain_prefix_is_a_file_store_url(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    message = _refusal(monkeypatch, SUPPORTDESK_FILE_STORE_URL=url)

    assert message.startswith("SUPPORTDESK_FILE_STORE_URL: ")


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("SUPPORTDESK_FILE_STORE_ENDPOINT_URL", "minio.internal:9000", "must start with https:// or http://"),
        ("SUPPORTDESK_FILE_STORE_REGION", "eu central 1", "must be a region name"),
        ("SUPPORTDESK_FILE_STORE_ACCESS_KEY_ID", "", "at least 1 character"),
        ("SUPPORTDESK_FILE_STORE_SECRET_ACCESS_KEY", "", "must not be empty"),
    ],
)
def test_a_bad_value_is_named_with_its_reason(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    message = _refusal(monkeypatch, SUPPORTDESK_FILE_STORE_URL="s3://desk-files", **{variable: value})

    assert message.startswith(f"{variable}: ")
    assert reason in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SUPPORTDESK_FILE_STORE_ENDPOINT_URL", "https://minio.internal:9000"),
        ("SUPPORTDESK_FILE_STORE_REGION", "eu-central-1"),
        ("SUPPORTDESK_FILE_STORE_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("SUPPORTDESK_FILE_STORE_SECRET_ACCESS_KEY", SECRET),
    ],
)
def test_bucket_settings_without_a_bucket_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    # Files would otherwise stay on this server's disk while the operator believes them shared.
    message = _refusal(monkeypatch, **{variable: value})

    assert message.startswith(f"{variable} is only read with a bucket")
    assert "SUPPORTDESK_FILE_STORE_URL" in message


@pytest.mark.parametrize(
    "given",
    [
        {"SUPPORTDESK_FILE_STORE_ACCESS_KEY_ID": "AKIAEXAMPLE"},
        {"SUPPORTDESK_FILE_STORE_SECRET_ACCESS_KEY": SECRET},
    ],
    ids=["key-id-alone", "secret-alone"],
)
def test_an_access_key_needs_both_halves(monkeypatch: pytest.MonkeyPatch, given: dict[str, str]) -> None:
    message = _refusal(monkeypatch, SUPPORTDESK_FILE_STORE_URL="s3://desk-files", **given)

    assert "give both SUPPORTDESK_FILE_STORE_ACCESS_KEY_ID and SUPPORTDESK_FILE_STORE_SECRET_ACCESS_KEY" in (
        message
    )
