"""RP-initiated logout against the dev IdP (``end_session_endpoint`` + confirm form).

Ending the provider session needs the same cookie jar that signed in: pass the
:class:`~devidp.signin.Browser` used for :meth:`~devidp.signin.Browser.sign_in`. Without one, a
throwaway browser is used; the provider still validates the ``id_token_hint`` and, if the client
has a ``backchannel_logout_uri``, there is no session to end so no logout token is sent.
"""

from __future__ import annotations

from devidp.signin import DEFAULT_CLIENT_ID, Browser


def end_session(
    issuer: str,
    id_token: str,
    *,
    browser: Browser | None = None,
    client_id: str = DEFAULT_CLIENT_ID,
    post_logout_redirect_uri: str | None = None,
    state: str | None = None,
) -> str | None:
    """End the provider session; returns the post-logout redirect location (or None)."""
    if browser is not None:
        return browser.end_session(
            id_token,
            client_id=client_id,
            post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
        )
    with Browser(issuer) as throwaway:
        return throwaway.end_session(
            id_token,
            client_id=client_id,
            post_logout_redirect_uri=post_logout_redirect_uri,
            state=state,
        )
