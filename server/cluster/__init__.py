"""Cluster: several server processes on one Redis and one database, behaving as one chat."""

from server.cluster.limits import RedisLimits, user_member
from server.cluster.manager import ClusterManager
from server.cluster.node import ClusterNode

__all__ = ["ClusterManager", "ClusterNode", "RedisLimits", "user_member"]
