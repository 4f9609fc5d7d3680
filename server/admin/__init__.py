"""Admin: the HTTP admin API under /api/admin (providers, rooms, users, audit, cluster), behind one guard."""

from server.admin.api import PREFIX, AdminApi
from server.admin.audit import AuditRoutes
from server.admin.cluster import ClusterRoutes
from server.admin.guard import Admin, AdminGuard
from server.admin.providers import ProviderMonitor, ProviderRoutes
from server.admin.rooms import RoomRoutes
from server.admin.users import UserRoutes

__all__ = [
    "PREFIX",
    "Admin",
    "AdminApi",
    "AdminGuard",
    "AuditRoutes",
    "ClusterRoutes",
    "ProviderMonitor",
    "ProviderRoutes",
    "RoomRoutes",
    "UserRoutes",
]
