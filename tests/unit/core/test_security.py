"""Passwords are stored as argon2id hashes; bearer tokens are random and stored as a keyed hash."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest
from argon2 import Type, extract_parameters

from supportdesk.core import security
from supportdesk.core.security import (
    TOKEN_PREFIX,
    hash_password,
    hash_password_in_thread,
    hash_token,
    new_token,
    token_display_prefix,
    verify_password,
    verify_password_in_thread,
)

PASSWORD = "correct horse battery staple"
SECRET_KEY = "a-server-secret-key-of-decent-length-0001"
OTHER_SECRET_KEY = "a-server-secret-key-of-decent-length-0002"


@pytest.fixture(scope="module")
def stored_hash() -> str:
    """One hash for the module: argon2id is slow on purpose, so it is computed once."""
    return hash_password(PASSWORD)


class TestPasswords:
    def test_the_hash_is_argon2id(self, stored_hash: str) -> None:
        assert stored_hash.startswith("$argon2id$")

    @pytest.mark.production_password_hashing
    def test_production_hashes_cost_at_least_what_owasp_asks_of_argon2id(self) -> None:
        # OWASP's floor for argon2id: 19 MiB of memory and two passes (or more memory, fewer passes).
        parameters = extract_parameters(hash_password(PASSWORD))
        assert parameters.type is Type.ID
        assert parameters.memory_cost >= 19 * 1024
        assert parameters.time_cost >= 2

    def test_the_hash_does_not_contain_the_password(self, stored_hash: str) -> None:
        assert PASSWORD not in stored_hash

    def test_the_right_password_verifies(self, stored_hash: str) -> None:
        assert verify_password(stored_hash, PASSWORD) is True

    @pytest.mark.parametrize(
        "attempt",
        [
            pytest.param("correct horse battery stapler", id="one-letter-more"),
            pytest.param("Correct horse battery staple", id="different-case"),
            pytest.param(" correct horse battery staple", id="leading-space"),
            pytest.param("", id="empty-password"),
        ],
    )
    def test_a_wrong_password_does_not_verify(self, stored_hash: str, attempt: str) -> None:
        assert verify_password(stored_hash, attempt) is False

    def test_the_same_password_hashes_differently_each_time(self, stored_hash: str) -> None:
        again = hash_password(PASSWORD)
        assert again != stored_hash
        assert verify_password(again, PASSWORD) is True

    def test_non_ascii_passwords_round_trip(self) -> None:
        stored = hash_password("pässwörd-密码")
        assert verify_password(stored, "pässwörd-密码") is True
        assert verify_password(stored, "passwort-密码") is False

    @pytest.mark.parametrize(
        "broken_hash",
        [
            pytest.param(None, id="user-without-password"),
            pytest.param("", id="empty-hash"),
            pytest.param("correct horse battery staple", id="plain-text-password-in-the-column"),
            pytest.param("$argon2id$v=19$m=65536,t=3,p=4$garbage", id="argon2id-prefix-with-garbage"),
            pytest.param("$2b$12$" + "a" * 53, id="bcrypt-style-hash"),
        ],
    )
    def test_a_missing_or_malformed_hash_never_verifies(self, broken_hash: str | None) -> None:
        assert verify_password(broken_hash, PASSWORD) is False

    def test_a_truncated_hash_never_verifies(self, stored_hash: str) -> None:
        assert verify_password(stored_hash[:-6], PASSWORD) is False


class TestTokens:
    def test_tokens_carry_the_recognisable_prefix(self) -> None:
        assert new_token().startswith(TOKEN_PREFIX)
        assert TOKEN_PREFIX == "sdk_"

    def test_tokens_are_url_safe_and_long(self) -> None:
        token = new_token()
        assert re.fullmatch(r"sdk_[A-Za-z0-9_-]{43,}", token)

    def test_tokens_are_unique(self) -> None:
        tokens = {new_token() for _ in range(200)}
        assert len(tokens) == 200

    def test_the_display_prefix_identifies_without_revealing(self) -> None:
        token = new_token()
        shown = token_display_prefix(token)
        assert token.startswith(shown)
        assert shown.startswith(TOKEN_PREFIX)
        assert len(shown) == len(TOKEN_PREFIX) + 6


class TestTokenHashes:
    def test_the_same_token_and_key_always_give_the_same_hash(self) -> None:
        token = new_token()
        assert hash_token(token, SECRET_KEY) == hash_token(token, SECRET_KEY)

    def test_a_different_server_key_gives_a_different_hash(self) -> None:
        token = new_token()
        assert hash_token(token, SECRET_KEY) != hash_token(token, OTHER_SECRET_KEY)

    def test_different_tokens_give_different_hashes(self) -> None:
        assert hash_token(new_token(), SECRET_KEY) != hash_token(new_token(), SECRET_KEY)

    def test_the_hash_is_hex_sha256_and_hides_the_token(self) -> None:
        token = new_token()
        stored = hash_token(token, SECRET_KEY)
        assert re.fullmatch(r"[0-9a-f]{64}", stored)
        assert token not in stored


class TestPasswordsOffTheEventLoop:
    async def test_a_check_runs_in_a_worker_thread(
        self, stored_hash: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        threads: list[threading.Thread] = []
        original = security.verify_password

        def recording(password_hash: str | None, password: str) -> bool:
            threads.append(threading.current_thread())
            return original(password_hash, password)

        monkeypatch.setattr(security, "verify_password", recording)

        assert await verify_password_in_thread(stored_hash, PASSWORD) is True
        assert await verify_password_in_thread(stored_hash, "wrong") is False
        assert await verify_password_in_thread(None, PASSWORD) is False
        assert len(threads) == 3
        assert threading.main_thread() not in threads

    async def test_a_hash_made_in_a_worker_thread_verifies(self) -> None:
        stored = await hash_password_in_thread(PASSWORD)
        assert verify_password(stored, PASSWORD) is True

    async def test_no_more_than_the_bound_run_at_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        running = 0
        most = 0
        lock = threading.Lock()

        def slow(password_hash: str | None, password: str) -> bool:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.05)
            with lock:
                running -= 1
            return False

        monkeypatch.setattr(security, "verify_password", slow)

        await asyncio.gather(*(verify_password_in_thread("x", "y") for _ in range(8)))

        assert 1 <= most <= security.PASSWORD_HASHING_THREADS
