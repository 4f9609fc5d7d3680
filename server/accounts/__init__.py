"""Accounts: what admins do to users (search, block, end sessions), audited, on every process."""

from server.accounts.service import AccountService, LiveCount, UserNotFoundError

__all__ = ["AccountService", "LiveCount", "UserNotFoundError"]
