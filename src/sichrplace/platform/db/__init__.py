"""Database platform: engines, typed sessions, the unit of work (no web framework here)."""

from sichrplace.platform.db.base import Base
from sichrplace.platform.db.durability import require_synchronous_commit
from sichrplace.platform.db.sessions import PrimarySession, ReplicaSession, on_commit
from sichrplace.platform.db.unit import transaction

__all__ = [
    "Base",
    "PrimarySession",
    "ReplicaSession",
    "on_commit",
    "require_synchronous_commit",
    "transaction",
]
