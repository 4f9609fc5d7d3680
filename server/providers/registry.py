"""ProviderRegistry: the identity providers at runtime, stored in SQL and applied in every process.

The configuration file seeds the table on first start; from then on the table is the truth and
the admin API changes it. Each change bumps a revision in its own transaction; every process
polls that revision (``sync``) and applies a change within one poll interval: new tokens route
to the new settings at once, and live sockets that a change shuts out are ended.
"""

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from server.audit import Actor, AuditLog
from server.config import ProviderConfig
from server.identity import (
    AccessDeniedError,
    Identity,
    TokenVerifier,
    check_admission,
    preview_claims,
    preview_tokens,
)
from server.providers.errors import (
    InvalidProviderError,
    LockoutError,
    ProviderConflictError,
    ProviderInFileError,
    ProviderNotFoundError,
)
from server.providers.patch import merge_patch
from server.sessions import SessionService
from server.storage import RegistryRepository, StoredProvider

logger = logging.getLogger(__name__)

MAX_UPDATE_ATTEMPTS = 5
Outcome = tuple[Identity, AccessDeniedError | None]


class ProviderRegistry:
    """Reads, changes and applies the provider table."""

    def __init__(
        self,
        repository: RegistryRepository,
        verifier: TokenVerifier,
        sessions: SessionService,
        audit: AuditLog,
    ) -> None:
        self._repository = repository
        self._verifier = verifier
        self._sessions = sessions
        self._audit = audit
        self._revision: int | None = None
        self._stored: dict[str, StoredProvider] = {}
        self._file: dict[str, ProviderConfig] = {}

    async def start(self, file_providers: Sequence[ProviderConfig]) -> None:
        """Seed the providers of the file that the table lacks, then apply the table."""
        self._file = {p.id: p for p in file_providers}
        for provider in file_providers:
            if await self._repository.insert(provider.id, _document(provider), "file"):
                logger.info("provider %s: seeded from the configuration file", provider.id)
        await self.reload()
        for provider_id, fields in self.file_differences().items():
            logger.warning(
                "provider %s: the table differs from the configuration file in %s; the table"
                " is used (the file only seeds new providers)",
                provider_id,
                ", ".join(fields),
            )

    def file_differences(self) -> dict[str, list[str]]:
        """Per file provider, the fields whose table value differs from the file's."""
        found: dict[str, list[str]] = {}
        for provider_id, in_file in self._file.items():
            stored = self._stored.get(provider_id)
            if stored is None:
                found[provider_id] = ["(deleted from the table)"]
                continue
            document = _document(in_file)
            fields = sorted(
                k
                for k in document.keys() | stored.config.keys()
                if document.get(k) != stored.config.get(k)
            )
            if fields:
                found[provider_id] = fields
        return found

    async def sync(self, revision: int | None = None) -> None:
        """Apply the table if another process changed it since the last look (``revision``:
        the providers revision, when the caller has just read it)."""
        if revision is None:
            revision = (await self._repository.revisions()).get("providers", 0)
        if revision != self._revision:
            await self.reload()

    async def reload(self) -> None:
        """Read the whole table and apply it (the revision is read first: a change committed
        meanwhile is applied again by the next ``sync``, never skipped)."""
        revision = (await self._repository.revisions()).get("providers", 0)
        stored = await self._repository.providers()
        await self._apply(stored)
        self._revision = revision

    async def _apply(self, stored: Iterable[StoredProvider]) -> None:
        before = {v.provider.id: v.provider for v in self._verifier.providers}
        providers = [p for p in (_parsed(s) for s in stored) if p is not None]
        self._stored = {s.id: s for s in stored}
        self._verifier.replace(providers)
        now = {p.id: p for p in providers}
        shut = {i for i, p in before.items() if p.enabled and (i not in now or not now[i].enabled)}
        if shut:
            await self._sessions.end_where(lambda i: i.provider_id in shut, "provider_disabled")
        changed = [p for p in providers if p.enabled and before.get(p.id) not in (None, p)]
        for provider in changed:
            await self._sessions.end_where(_refused_by(provider), "access_denied")

    def list(self) -> list[StoredProvider]:
        return sorted(self._stored.values(), key=lambda s: s.id)

    def get(self, provider_id: str) -> StoredProvider:
        stored = self._stored.get(provider_id)
        if stored is None:
            raise ProviderNotFoundError(provider_id)
        return stored

    async def create(self, actor: Actor, fields: Mapping[str, Any]) -> StoredProvider:
        """Add a provider, disabled (enable it once tested).

        Raises:
            InvalidProviderError (invalid_request), ProviderConflictError (conflict).
        """
        if fields.get("enabled") not in (None, False):
            raise InvalidProviderError("a new provider starts disabled: enable it with PATCH")
        provider = self._validated({**fields, "enabled": False}, exclude=None)
        if not await self._repository.insert(provider.id, _document(provider), "api"):
            raise ProviderConflictError(f"provider {provider.id!r} exists")
        await self.reload()
        await self._audit.record(
            actor, "provider.create", f"provider:{provider.id}", after=_document(provider)
        )
        return self.get(provider.id)

    async def update(
        self, actor: Actor, provider_id: str, patch: Mapping[str, Any], version: int | None = None
    ) -> StoredProvider:
        """Apply a JSON merge patch (RFC 7396) to a provider; ``version``: only if unchanged.

        Raises:
            ProviderNotFoundError (not_found), InvalidProviderError (invalid_request),
            ProviderConflictError (conflict): ``version`` is not the current one.
            LockoutError (would_lock_out): the admin would disable their own provider.
        """
        if "id" in patch and patch["id"] != provider_id:
            raise InvalidProviderError("a provider's id cannot change")
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = await self._repository.provider(provider_id)
            if current is None:
                raise ProviderNotFoundError(provider_id)
            if version is not None and version != current.version:
                raise ProviderConflictError(
                    f"{provider_id}: version {current.version}, not {version}"
                )
            provider = self._validated(merge_patch(current.config, patch), exclude=provider_id)
            if not provider.enabled and actor.provider_id == provider_id:
                raise LockoutError(f"{actor.subject} would disable their own provider")
            if await self._repository.update(provider_id, _document(provider), current.version):
                await self.reload()
                await self._audit.record(
                    actor,
                    "provider.update",
                    f"provider:{provider_id}",
                    before=current.config,
                    after=_document(provider),
                )
                return self.get(provider_id)
        raise ProviderConflictError(f"{provider_id}: changed concurrently, try again")

    async def delete(self, actor: Actor, provider_id: str) -> int:
        """Remove a provider; its live sockets end. Returns how many ended here.

        Raises:
            ProviderNotFoundError (not_found), ProviderInFileError (provider_in_file),
            LockoutError (would_lock_out).
        """
        current = self.get(provider_id)
        if actor.provider_id == provider_id:
            raise LockoutError(f"{actor.subject} would delete their own provider")
        if provider_id in self._file:
            raise ProviderInFileError(f"{provider_id} is in the configuration file")
        live = self._sessions.count_where(lambda i: i.provider_id == provider_id)
        if not await self._repository.delete(provider_id):
            raise ProviderNotFoundError(provider_id)
        await self.reload()
        await self._audit.record(
            actor, "provider.delete", f"provider:{provider_id}", before=current.config
        )
        return live

    async def preview(
        self,
        provider_id: str,
        *,
        access_token: str | None = None,
        id_token: str | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """What this provider's stored settings make of sample tokens (verified, as at connect,
        enabled or not) or of a bare claims object; nothing is stored.

        Raises:
            ProviderNotFoundError (not_found), InvalidProviderError: invalid stored settings.
            IdentityError: the tokens or claims are refused (the code says why).
        """
        provider = _parsed(self.get(provider_id))
        if provider is None:
            raise InvalidProviderError(f"{provider_id}: stored settings are invalid")
        if claims is not None:
            return preview_claims(provider, claims)
        return await preview_tokens(self._verifier, provider, access_token, id_token)

    def _validated(self, document: Mapping[str, Any], exclude: str | None) -> ProviderConfig:
        try:
            provider = ProviderConfig.model_validate(document)
        except ValidationError as exc:
            raise InvalidProviderError.from_validation(exc) from exc
        for other in self._stored.values():
            if other.id == exclude:
                continue
            parsed = _parsed(other)
            taken = {parsed.issuer, parsed.access_issuer} if parsed else set()
            if taken & {provider.issuer, provider.access_issuer}:
                raise InvalidProviderError(f"issuer already used by provider {other.id!r}")
        return provider


def _document(provider: ProviderConfig) -> dict[str, Any]:
    return provider.model_dump(mode="json")


def _parsed(stored: StoredProvider) -> ProviderConfig | None:
    try:
        return ProviderConfig.model_validate(stored.config)
    except ValidationError:
        # A row edited outside the API: fail closed (the provider is not used) and say so.
        logger.error("provider %s: the stored configuration is invalid; it is not used", stored.id)
        return None


def _refused_by(provider: ProviderConfig) -> Callable[[Identity], bool]:
    def refused(identity: Identity) -> bool:
        if identity.provider_id != provider.id:
            return False
        try:
            check_admission(provider.admission, identity)
        except AccessDeniedError:
            return True
        return False

    return refused
