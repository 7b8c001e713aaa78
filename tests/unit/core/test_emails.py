"""The e-mail validator: reason codes people see when an address is refused, and the normal form
under which addresses are stored and matched."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from supportdesk.core.emails import (
    EmailError,
    is_valid_email,
    normalize_email,
    validate_email_detailed,
)


def _address_of_length(length: int) -> str:
    """A well-formed address of exactly ``length`` characters, with no label over 63 characters."""
    local = "a" * 64
    domain_budget = length - len(local) - 1 - len(".com")
    labels: list[str] = []
    while domain_budget > 0:
        size = min(63, domain_budget)
        labels.append("b" * size)
        domain_budget -= size + 1  # the label and the dot that follows it
    address = f"{local}@{'.'.join(labels)}.com"
    assert len(address) == length, "the helper built an address of the wrong length"
    return address


REJECTED = [
    pytest.param("", EmailError.empty, id="empty-string-is-empty"),
    pytest.param(" ", EmailError.whitespace, id="single-space-is-whitespace"),
    pytest.param("jo doe@example.com", EmailError.whitespace, id="space-in-user-is-whitespace"),
    pytest.param("jo@exam ple.com", EmailError.whitespace, id="space-in-domain-is-whitespace"),
    pytest.param(" jo@example.com", EmailError.whitespace, id="leading-space-is-whitespace"),
    pytest.param("jo@example.com ", EmailError.whitespace, id="trailing-space-is-whitespace"),
    pytest.param("jo\t@example.com", EmailError.whitespace, id="tab-is-whitespace"),
    pytest.param("jo@example.com\n", EmailError.whitespace, id="trailing-newline-is-whitespace"),
    pytest.param("jo@exa\nmple.com", EmailError.whitespace, id="newline-inside-is-whitespace"),
    pytest.param("jo\u00a0@example.com", EmailError.whitespace, id="no-break-space-is-whitespace"),
    pytest.param("jo.example.com", EmailError.missing_at, id="address-without-at-is-missing-at"),
    pytest.param("jo", EmailError.missing_at, id="bare-name-is-missing-at"),
    pytest.param("jo@doe@example.com", EmailError.multiple_at, id="two-at-signs-is-multiple-at"),
    pytest.param("@@", EmailError.multiple_at, id="only-at-signs-is-multiple-at"),
    pytest.param("@example.com", EmailError.no_user, id="nothing-before-at-is-no-user"),
    pytest.param("jo@", EmailError.no_domain, id="nothing-after-at-is-no-domain"),
    pytest.param("@", EmailError.no_user, id="lone-at-sign-is-no-user"),
    pytest.param(".a@b.com", EmailError.invalid_user, id="leading-dot-in-user-is-invalid-user"),
    pytest.param("a.@b.com", EmailError.invalid_user, id="trailing-dot-in-user-is-invalid-user"),
    pytest.param("a..b@c.com", EmailError.invalid_user, id="double-dot-in-user-is-invalid-user"),
    pytest.param("jo(doe)@example.com", EmailError.invalid_user, id="parentheses-in-user-is-invalid-user"),
    pytest.param("a@b", EmailError.invalid_domain, id="domain-without-dot-is-invalid-domain"),
    pytest.param("a@-b.com", EmailError.invalid_domain, id="domain-starting-with-hyphen-is-invalid-domain"),
    pytest.param("a@b..com", EmailError.invalid_domain, id="double-dot-in-domain-is-invalid-domain"),
    pytest.param("user@exa_mple.com", EmailError.invalid_domain, id="underscore-in-domain-is-invalid-domain"),
    pytest.param("a@.b.com", EmailError.invalid_domain, id="domain-starting-with-dot-is-invalid-domain"),
    pytest.param("a@b.com.", EmailError.invalid_domain, id="domain-ending-with-dot-is-invalid-domain"),
    pytest.param("a@[192.0.2.1]", EmailError.invalid_domain, id="bracketed-ip-is-invalid-domain"),
    pytest.param(
        f"a@{'b' * 64}.com", EmailError.invalid_domain, id="domain-label-of-64-characters-is-invalid-domain"
    ),
    pytest.param(_address_of_length(255), EmailError.too_long, id="255-characters-is-too-long"),
    pytest.param("a" * 300, EmailError.too_long, id="300-characters-without-at-is-too-long"),
]

ACCEPTED = [
    pytest.param("jo@example.com", "jo@example.com", id="plain-address-is-kept"),
    pytest.param("jo+tag@example.com", "jo+tag@example.com", id="plus-addressing-is-kept"),
    pytest.param("jo.doe@example.com", "jo.doe@example.com", id="dot-inside-user-is-kept"),
    pytest.param("user@localhost", "user@localhost", id="localhost-is-accepted"),
    pytest.param("User@LOCALHOST", "User@localhost", id="uppercase-localhost-is-accepted-and-lowered"),
    pytest.param("jo@mail.eu.example.co.uk", "jo@mail.eu.example.co.uk", id="subdomains-are-kept"),
    pytest.param("jo@EXAMPLE.COM", "jo@example.com", id="uppercase-domain-is-lowered"),
    pytest.param(
        "Jo.Doe@Example.Com", "Jo.Doe@example.com", id="user-keeps-its-case-while-domain-is-lowered"
    ),
    pytest.param("jo@bücher.de", "jo@bücher.de", id="internationalised-domain-is-accepted"),
    pytest.param("jo@BÜCHER.DE", "jo@bücher.de", id="internationalised-domain-is-lowered"),
    pytest.param("jo@xn--bcher-kva.de", "jo@xn--bcher-kva.de", id="punycode-domain-is-accepted"),
    pytest.param("jo@sub-domain.example.com", "jo@sub-domain.example.com", id="hyphen-inside-domain-is-kept"),
    pytest.param(
        _address_of_length(254),
        _address_of_length(254),
        id="exactly-254-characters-is-accepted",
    ),
    pytest.param(
        "0@" + ".".join(["d" * 63, "e" * 63, "f" * 63, "g" * 59]),
        "0@" + ".".join(["d" * 63, "e" * 63, "f" * 63, "g" * 59]),
        id="one-letter-user-with-a-253-character-domain-is-accepted",
    ),
]


class TestRejectedAddresses:
    @pytest.mark.parametrize(("address", "code"), REJECTED)
    def test_the_reason_code_names_the_problem(self, address: str, code: EmailError) -> None:
        result = validate_email_detailed(address)
        assert result.is_valid is False
        assert result.error_code is code
        assert result.normalized is None
        assert result.message

    @pytest.mark.parametrize(("address", "code"), REJECTED)
    def test_is_valid_email_says_no(self, address: str, code: EmailError) -> None:
        assert is_valid_email(address) is False

    @pytest.mark.parametrize(("address", "code"), REJECTED)
    def test_normalize_email_raises_with_the_reason_code_first(self, address: str, code: EmailError) -> None:
        with pytest.raises(ValueError, match=r"^\S+: ") as raised:
            normalize_email(address)
        assert str(raised.value).startswith(f"{code.value}: ")

    @pytest.mark.parametrize(
        ("address", "wording"),
        [
            pytest.param("", "empty", id="empty-says-empty"),
            pytest.param("a b@c.com", "spaces", id="whitespace-mentions-spaces"),
            pytest.param("abc", "@-sign", id="missing-at-mentions-the-at-sign"),
            pytest.param("a" * 300, "254", id="too-long-states-the-limit"),
        ],
    )
    def test_structural_problems_have_a_readable_message(self, address: str, wording: str) -> None:
        message = validate_email_detailed(address).message
        assert message is not None
        assert wording in message

    @pytest.mark.parametrize(
        ("address", "code"),
        [
            pytest.param(
                "a..b@c.com", EmailError.invalid_user, id="bad-user-with-good-domain-blames-the-user"
            ),
            pytest.param(
                "a@b..com", EmailError.invalid_domain, id="good-user-with-bad-domain-blames-the-domain"
            ),
            pytest.param("a..b@c..com", EmailError.invalid_user, id="both-bad-blames-the-user-first"),
        ],
    )
    def test_the_half_at_fault_is_named(self, address: str, code: EmailError) -> None:
        assert validate_email_detailed(address).error_code is code


class TestAcceptedAddresses:
    @pytest.mark.parametrize(("address", "normalized"), ACCEPTED)
    def test_the_normal_form(self, address: str, normalized: str) -> None:
        result = validate_email_detailed(address)
        assert result.is_valid is True
        assert result.normalized == normalized
        assert result.error_code is None
        assert result.message is None

    @pytest.mark.parametrize(("address", "normalized"), ACCEPTED)
    def test_is_valid_email_says_yes(self, address: str, normalized: str) -> None:
        assert is_valid_email(address) is True

    @pytest.mark.parametrize(("address", "normalized"), ACCEPTED)
    def test_normalize_email_returns_the_normal_form(self, address: str, normalized: str) -> None:
        assert normalize_email(address) == normalized

    def test_addresses_differing_only_in_domain_case_normalise_alike(self) -> None:
        assert normalize_email("Lena@Example.COM") == normalize_email("Lena@example.com")

    def test_addresses_differing_in_user_case_stay_distinct(self) -> None:
        assert normalize_email("Lena@example.com") != normalize_email("lena@example.com")


_LOCAL_CHARS = st.sampled_from("abcXYZ019.+-_'~!#$%&*=?^`{|}@ \"()üé用")
_DOMAIN_CHARS = st.sampled_from("abcXYZ019.-_ÜüİK@ ")
ADDRESS_LIKE = st.one_of(
    st.text(max_size=300),
    st.emails(),
    st.builds(
        "{}@{}".format,
        st.text(_LOCAL_CHARS, min_size=0, max_size=70),
        st.text(_DOMAIN_CHARS, min_size=0, max_size=70),
    ),
)


@hypothesis_settings(database=None, deadline=None, max_examples=300)
@given(ADDRESS_LIKE)
def test_validation_never_raises_and_is_either_valid_or_explained(address: str) -> None:
    result = validate_email_detailed(address)
    assert result.is_valid != (result.error_code is not None)
    if result.is_valid:
        assert result.normalized is not None
        assert result.message is None
        again = validate_email_detailed(result.normalized)
        assert again.is_valid is True
        assert again.normalized == result.normalized
    else:
        assert result.normalized is None
        assert result.message


def _verdict_of_the_package(address: str) -> tuple[EmailError | None, str | None]:
    """What email-validator says of each half of ``address`` beside a known-good other half: the
    verdict the validator's shortcuts (a plain local part, a domain seen before) must reproduce."""
    local, domain = address.split("@")
    for candidate, code in ((f"{local}@example.com", EmailError.invalid_user), (f"a@{domain.lower()}", None)):
        if code is None and domain.lower() == "localhost":
            continue
        try:
            validate_email(candidate, check_deliverability=False)
        except EmailNotValidError as error:
            return code or EmailError.invalid_domain, str(error)
    return None, None


# Local parts near the dot-atom rule's edges: dots at either end or doubled, the 64-character limit,
# quotes, non-ASCII letters and every special character the rule allows.
_NEAR_DOT_ATOM = st.text(st.sampled_from("aZ9.!#$%&'*+/=?^_`{|}~-\"é(),;:<>[]\\"), min_size=1, max_size=70)


@hypothesis_settings(database=None, deadline=None, max_examples=400)
@given(local=st.one_of(_NEAR_DOT_ATOM, st.text(_LOCAL_CHARS.filter(lambda c: c not in "@ "), min_size=1)))
def test_a_plain_local_part_gets_the_packages_verdict(local: str) -> None:
    address = f"{local}@example.org"
    result = validate_email_detailed(address)
    expected_code, expected_message = _verdict_of_the_package(address)
    assert (result.error_code, result.message) == (expected_code, expected_message)


@pytest.mark.parametrize(
    "domain",
    ["Example.ORG", "b..com", "localhost", "xn--bcher-kva.example", "bücher.example", "a.test", "-a.com"],
    ids=["mixed-case", "double-dot", "localhost", "punycode", "unicode", "special-use", "leading-hyphen"],
)
def test_a_domain_gets_the_same_verdict_the_second_time(domain: str) -> None:
    address = f"lena@{domain}"
    first, second = validate_email_detailed(address), validate_email_detailed(address)
    assert first == second
    assert (first.error_code, first.message) == _verdict_of_the_package(address)
