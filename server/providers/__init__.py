"""Providers: the runtime identity-provider registry (SQL, seeded from the TOML file) and its probe."""

from server.providers.errors import (
    InvalidProviderError,
    LockoutError,
    ProviderConflictError,
    ProviderInFileError,
    ProviderNotFoundError,
    RegistryError,
)
from server.providers.probe import Check, ProbeReport, probe
from server.providers.registry import ProviderRegistry

__all__ = [
    "Check",
    "InvalidProviderError",
    "LockoutError",
    "ProbeReport",
    "ProviderConflictError",
    "ProviderInFileError",
    "ProviderNotFoundError",
    "ProviderRegistry",
    "RegistryError",
    "probe",
]
