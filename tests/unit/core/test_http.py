"""ETags and If-Match: the optimistic-locking handshake clients do on every update."""

from __future__ import annotations

import pytest

from supportdesk.core.errors import InvalidInput
from supportdesk.core.http import etag, parse_if_match


class TestEtag:
    @pytest.mark.parametrize(
        ("version", "expected"),
        [
            pytest.param(1, '"v1"', id="first-version"),
            pytest.param(3, '"v3"', id="third-version"),
            pytest.param(1024, '"v1024"', id="many-edits-later"),
        ],
    )
    def test_the_etag_is_a_quoted_version(self, version: int, expected: str) -> None:
        assert etag(version) == expected

    @pytest.mark.parametrize("version", [0, 1, 7, 99, 123456])
    def test_an_etag_sent_back_gives_its_version(self, version: int) -> None:
        assert parse_if_match(etag(version)) == version


class TestParseIfMatch:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            pytest.param('"v3"', 3, id="strong-etag-gives-the-version"),
            pytest.param('W/"v3"', 3, id="weak-etag-gives-the-version"),
            pytest.param('  "v12"  ', 12, id="surrounding-spaces-are-ignored"),
            pytest.param('"v007"', 7, id="leading-zeros-are-read-as-a-number"),
            pytest.param("*", None, id="star-means-any-version"),
            pytest.param(" * ", None, id="star-with-spaces-means-any-version"),
            pytest.param(None, None, id="missing-header-means-no-check"),
        ],
    )
    def test_accepted_headers(self, header: str | None, expected: int | None) -> None:
        assert parse_if_match(header) == expected

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param("", id="empty-header"),
            pytest.param("yesterday", id="a-word"),
            pytest.param("v3", id="unquoted-etag"),
            pytest.param('"3"', id="number-without-v"),
            pytest.param('"V3"', id="capital-v"),
            pytest.param('"vx"', id="v-without-a-number"),
            pytest.param('"v-1"', id="negative-version"),
            pytest.param('w/"v3"', id="lowercase-weak-marker"),
            pytest.param('"v3", "v4"', id="a-list-of-etags"),
            pytest.param('"v3', id="missing-closing-quote"),
            pytest.param("**", id="double-star"),
            pytest.param('"v' + "9" * 5000 + '"', id="absurdly-long-version"),
            pytest.param('"v\u0663"', id="non-ascii-digit"),
        ],
    )
    def test_garbage_is_invalid_input_naming_the_header(self, header: str) -> None:
        with pytest.raises(InvalidInput) as raised:
            parse_if_match(header)
        assert raised.value.field == "If-Match"
        assert raised.value.status_code == 422
        assert raised.value.extra["errors"] == [
            {"field": "If-Match", "message": raised.value.detail, "type": "invalid-etag"}
        ]
        assert '"v3"' in raised.value.detail
