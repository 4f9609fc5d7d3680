"""Registry errors; each code is public protocol (README: Error codes)."""

from server.errors import AppError, InvalidFieldsError


class RegistryError(AppError):
    """A provider change that cannot be made."""


class InvalidProviderError(InvalidFieldsError, RegistryError):
    code = "invalid_request"
    message = "The provider settings are not valid."


class ProviderNotFoundError(RegistryError):
    code = "not_found"
    message = "There is no such provider."


class ProviderConflictError(RegistryError):
    code = "conflict"
    message = "The provider exists or was changed meanwhile: reload and try again."


class ProviderInFileError(RegistryError):
    code = "provider_in_file"
    message = (
        "This provider comes from the configuration file: remove it there, or disable it here."
    )


class LockoutError(RegistryError):
    """An admin may not disable or delete the provider they are signed in with."""

    code = "would_lock_out"
    message = (
        "You are signed in with this provider: disabling or deleting it would lock you out."
        " Sign in with another provider to do it."
    )
