"""Admission: a provider's rules on who of its users may sign in (groups, email domain, claims)."""

from collections.abc import Mapping
from typing import Any

from server.config import Admission
from server.identity.claims import claim
from server.identity.errors import AccessDeniedError
from server.identity.identity import Identity

Claims = Mapping[str, Any]


def check_identity(rules: Admission, identity: Identity) -> None:
    """The rules that a live session's identity alone decides (groups, email domain).

    Raises:
        AccessDeniedError (access_denied).
    """
    if rules.required_groups and identity.groups.isdisjoint(rules.required_groups):
        raise AccessDeniedError(f"in none of the required groups {list(rules.required_groups)}")
    if rules.allowed_email_domains:
        domain = (identity.verified_email or "").rpartition("@")[2]
        if not identity.verified_email or domain not in rules.allowed_email_domains:
            raise AccessDeniedError(
                f"no verified email in the allowed domains {list(rules.allowed_email_domains)}"
            )


def check(rules: Admission, identity: Identity, *sources: Claims) -> None:
    """Every admission rule, at connect and refresh, with the verified claims at hand.

    Raises:
        AccessDeniedError (access_denied).
    """
    check_identity(rules, identity)
    for path, expected in rules.required_claims.items():
        if not any(_holds(claim(source, path), expected) for source in sources):
            raise AccessDeniedError(f"claim {path!r} does not hold the required value")


def _holds(value: object, expected: str) -> bool:
    if isinstance(value, list):
        return expected in value
    if isinstance(value, bool):
        return str(value).lower() == expected
    return isinstance(value, str | int) and str(value) == expected
