"""The kinds of value settings hold, and the checks on them that take more than a type: a secret that
must not be empty, a base URL that paths are appended to, an S3 location and region, the addresses of
trusted proxies, a rate limit, and the URLs of the database, the queue and the stores.

Each check is a plain function of the value, which gives it back (perhaps normalised) or raises
``ValueError`` with the words an operator reads. They are apart from ``Settings`` so that the class
reads as the list of settings with what each one is checked by, while how a bucket name or a proxy
network is read is written once, here, and reads without pydantic.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from limits import parse as parse_rate_limit
from pydantic import AfterValidator, Field, SecretStr

MAIL_PROVIDER_NAME = r"^[a-z0-9][a-z0-9_-]{0,39}$"
ProviderName = Annotated[str, Field(pattern=MAIL_PROVIDER_NAME)]
HttpBaseUrl = Annotated[str, Field(min_length=1, max_length=2000)]


def _not_empty(value: SecretStr) -> SecretStr:
    # An empty secret is a value left out of the settings file: better refused at start-up than by the
    # provider at every message.
    if not value.get_secret_value():
        raise ValueError("must not be empty")
    return value


# A password or key: never shown in a repr, a log or an error.
Secret = Annotated[SecretStr, AfterValidator(_not_empty)]


def _starting_with(*schemes: str) -> AfterValidator:
    """A check that a URL starts with one of ``schemes``, naming them all when it does not."""
    named = f"{', '.join(schemes[:-1])} or {schemes[-1]}" if len(schemes) > 1 else schemes[0]

    def check(value: str) -> str:
        if not value.startswith(schemes):
            raise ValueError(f"must start with {named}")
        return value

    return AfterValidator(check)


# Where the settings point at a database, a queue or a store: the drivers and servers the desk speaks to.
DatabaseUrl = Annotated[str, _starting_with("sqlite+aiosqlite://", "postgresql+asyncpg://")]
QueueUrl = Annotated[str, _starting_with("memory://", "redis://", "rediss://", "amqp://", "amqps://")]
# In this process's memory or on Redis: pushes to open screens and the rate limits' counters.
MemoryOrRedisUrl = Annotated[str, _starting_with("memory://", "redis://", "rediss://")]
# The caches' own spelling of the same (cashews names memory mem://).
CacheUrl = Annotated[str, _starting_with("mem://", "redis://", "rediss://")]


def _http_base_url(value: str) -> str:
    """An ``http(s)://`` URL without a trailing slash, so that API paths can be appended to it."""
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https:// or http://")
    return value.rstrip("/")


# What an S3 bucket may be called, and what a key prefix may hold: S3's own rules for bucket names, and
# the characters it calls safe in keys, which need no escaping anywhere a key is written.
S3_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_PREFIX_PART = re.compile(r"[A-Za-z0-9!_.*'()-]+")
# Keys may be 1024 bytes long; the hash and its two folders take 70 of them.
S3_PREFIX_MAX_LENGTH = 512
S3_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _s3_location(value: str) -> str:
    """``value`` as ``s3://bucket`` or ``s3://bucket/prefix``, the prefix without slashes around it."""
    # The value is never repeated in a message: a URL written with credentials in it would show them.
    if not value.startswith("s3://"):
        raise ValueError(
            "must be s3://bucket or s3://bucket/prefix; leave it unset to keep files in "
            "SUPPORTDESK_ATTACHMENT_DIR"
        )
    bucket, _, prefix = value.removeprefix("s3://").partition("/")
    if not S3_BUCKET_NAME.fullmatch(bucket) or ".." in bucket:
        raise ValueError(
            "the bucket must be 3 to 63 lower-case letters, digits, dots and hyphens, beginning "
            "and ending with a letter or digit"
        )
    prefix = prefix.strip("/")
    parts = prefix.split("/") if prefix else []
    if len(prefix) > S3_PREFIX_MAX_LENGTH or not all(
        part not in (".", "..") and S3_PREFIX_PART.fullmatch(part) for part in parts
    ):
        raise ValueError(
            f"the prefix after the bucket must be at most {S3_PREFIX_MAX_LENGTH} characters: names "
            "of letters, digits and !-_.*'() separated by single slashes, none of them . or .."
        )
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def _s3_region(value: str) -> str:
    """``value``, a region name of Amazon or of another S3-compatible server."""
    # Not only Amazon's names (eu-central-1): other servers have their own, such as auto or garage.
    if not S3_REGION.fullmatch(value):
        raise ValueError("must be a region name such as eu-central-1: letters, digits, - and _")
    return value


def _proxy_addresses(value: str) -> str:
    """``value``, addresses and networks separated by commas (or ``*``), without spaces around them."""
    entries = [entry.strip() for entry in value.split(",")]
    if entries == ["*"]:
        return "*"
    for entry in entries:
        # uvicorn takes an entry it cannot parse as a literal name that no client address ever
        # equals, so a typo would silently trust no proxy; refusing it at start-up says so at once.
        try:
            ipaddress.ip_network(entry)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network: give addresses or networks "
                "separated by commas (127.0.0.1,10.0.0.0/8), or * to trust every proxy"
            ) from None
    return ",".join(entries)


def _rate_limit(value: str) -> str:
    """``value``, a rate limit the ``limits`` package reads, such as ``20/minute``."""
    try:
        amount = parse_rate_limit(value).amount
    except ValueError:
        amount = 0
    if amount < 1:
        raise ValueError("must be a positive number, a slash and a period, e.g. 20/minute or 5/15 minutes")
    return value


# Where the file store keeps bytes, on Amazon S3 or another S3-compatible server: s3://bucket or
# s3://bucket/prefix.
S3Location = Annotated[str, AfterValidator(_s3_location)]
S3Region = Annotated[str, AfterValidator(_s3_region)]
# The proxies whose forwarded headers are believed: addresses and networks separated by commas, or *.
ProxyAddresses = Annotated[str, AfterValidator(_proxy_addresses)]
# How many requests in how long, as the limits package reads it: 20/minute, 5/15 minutes.
RateLimit = Annotated[str, AfterValidator(_rate_limit)]
