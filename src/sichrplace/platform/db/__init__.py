"""Database platform: engines, typed sessions, the request/job transaction boundary."""

from sichrplace.platform.db.base import Base
from sichrplace.platform.db.dependencies import PrimaryDB, get_db, transaction
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession, on_commit

__all__ = [
    "Base",
    "PrimaryDB",
    "PrimarySession",
    "ReplicaSession",
    "get_db",
    "on_commit",
    "transaction",
]
