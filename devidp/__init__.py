"""Dev identity provider for sso-chat: a real OpenID provider (npm ``oidc-provider``) run from
Python, plus a browserless sign-in client. Development and tests only.

Names are imported lazily so ``python -m devidp.signin`` runs without a runpy warning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devidp.logout import end_session
    from devidp.process import DevIdp
    from devidp.signin import (
        Browser,
        SignInError,
        Tokens,
        decode_jwt_unverified,
        refresh,
        sign_in,
    )

_EXPORTS = {
    "Browser": "devidp.signin",
    "DevIdp": "devidp.process",
    "SignInError": "devidp.signin",
    "Tokens": "devidp.signin",
    "decode_jwt_unverified": "devidp.signin",
    "end_session": "devidp.logout",
    "refresh": "devidp.signin",
    "sign_in": "devidp.signin",
}

__all__ = [
    "Browser",
    "DevIdp",
    "SignInError",
    "Tokens",
    "decode_jwt_unverified",
    "end_session",
    "refresh",
    "sign_in",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'devidp' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
