"""The verified identity bound to a socket."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is connected, as proven by the provider's tokens; nothing a client sends changes it."""

    provider_id: str
    issuer: str
    subject: str
    name: str
    groups: frozenset[str]
    scopes: frozenset[str]
    session_id: str | None
    expires_at: float
    issued_at: float
    verified_email: str | None = None  # only an email the provider says is verified

    @property
    def key(self) -> tuple[str, str]:
        """The user's identity key: ``(issuer, subject)``, never the email."""
        return (self.issuer, self.subject)
