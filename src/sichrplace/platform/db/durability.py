"""Per-transaction durability: the writes that must survive a failover wait for the standby.

The server's default is `synchronous_commit = local`: a commit returns once its WAL is flushed
on the primary, so a failover right after it can lose it. A use case whose write must never be
lost once acknowledged (a booking, a payment's state, a signature, a message) asks for
`synchronous_commit = on` for its own transaction only: see `require_synchronous_commit`.
"""

from __future__ import annotations

import weakref

from sqlalchemy import text
from sqlalchemy.orm import SessionTransaction

from sichrplace.platform.db.sessions import PrimarySession

SYNCHRONOUS_COMMIT_ON = text("SET LOCAL synchronous_commit TO on")
_DONE_KEY = "sichrplace.synchronous_commit"


async def require_synchronous_commit(session: PrimarySession) -> None:
    """Make this transaction's commit wait until the synchronous standby has flushed its WAL.

    With Patroni's `synchronous_mode: true` the replica is named in
    `synchronous_standby_names`, so once the commit is acknowledged the write is on two
    nodes and a failover (which promotes only the synchronous standby) loses none of it.
    When no synchronous standby is named (none is healthy: Patroni's non-strict mode empties
    the list) Postgres commits with local durability, as the server default does.

    `SET LOCAL` ends with the transaction, so it is safe under PgBouncer's transaction
    pooling. Call it once per use case, before its first write; a second call in the same
    transaction (a use case calling another) issues nothing. A transaction that writes
    nothing never waits, whatever the setting."""
    if _done_in_this_transaction(session):
        return
    await session.execute(SYNCHRONOUS_COMMIT_ON)
    current = _innermost(session)
    assert current is not None  # the statement above began one
    # A weak reference to the transaction itself (not a flag to clear at commit): a commit or
    # rollback anywhere, or a savepoint rolled back (which undoes the SET), ends what it
    # points at, so the next transaction sets it again.
    session.info[_DONE_KEY] = weakref.ref(current)


def _innermost(session: PrimarySession) -> SessionTransaction | None:
    sync = session.sync_session
    return sync.get_nested_transaction() or sync.get_transaction()


def _done_in_this_transaction(session: PrimarySession) -> bool:
    ref: weakref.ref[SessionTransaction] | None = session.info.get(_DONE_KEY)
    done = None if ref is None else ref()
    if done is None or not done.is_active:
        return False
    current = _innermost(session)
    while current is not None:  # set here or in an enclosing transaction still open
        if current is done:
            return True
        current = current.parent
    return False
