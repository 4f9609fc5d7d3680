"""Admin: the HTTP admin API under /api/admin (providers, audit), behind one guard."""

from server.admin.api import PREFIX, AdminApi
from server.admin.guard import Admin, AdminGuard

__all__ = ["PREFIX", "Admin", "AdminApi", "AdminGuard"]
