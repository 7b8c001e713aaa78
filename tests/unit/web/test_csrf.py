"""The forms' CSRF tokens: bound to one credential and one purpose, compared in constant time."""

from __future__ import annotations

import pytest

from supportdesk.web import csrf

KEY = "k" * 40


def test_a_token_belongs_to_one_credential_and_one_purpose() -> None:
    token = csrf.form_token(KEY, "session", "secret-a")

    assert csrf.token_matches(KEY, "session", "secret-a", token)
    assert not csrf.token_matches(KEY, "session", "secret-b", token)
    assert not csrf.token_matches(KEY, "login", "secret-a", token)
    assert not csrf.token_matches("j" * 40, "session", "secret-a", token)


@pytest.mark.parametrize(
    ("credential", "submitted"),
    [
        pytest.param(None, "anything", id="no-credential"),
        pytest.param("secret", None, id="no-token"),
        pytest.param("secret", "", id="empty-token"),
        pytest.param("secret", 42, id="not-text"),
    ],
)
def test_nothing_to_compare_is_no_match(credential: str | None, submitted: object) -> None:
    assert not csrf.token_matches(KEY, "session", credential, submitted)


def test_tokens_are_url_safe_and_login_values_fresh() -> None:
    token = csrf.form_token(KEY, "login", csrf.new_login_value())

    assert len(token) == 43
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert csrf.new_login_value() != csrf.new_login_value()
