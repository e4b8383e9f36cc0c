"""Restore drills: marker rows written at known times.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06

`sichrplace db drill` (sichrplace/stack/backup/drill.py) writes a few rows here, restores a
backup to a moment between two of them and checks that exactly the rows written before that
moment came back. `written_at` is the server's clock at the insert (`clock_timestamp()`, not
the transaction's start), so the recovery target can be placed between two rows' commits.
The drill deletes markers older than SICHRPLACE_BACKUP_DRILL_MARKER_RETENTION_DAYS.
"""

from __future__ import annotations

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE backup_markers (
            id bigint GENERATED ALWAYS AS IDENTITY,
            written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            note text NOT NULL,
            CONSTRAINT pk_backup_markers PRIMARY KEY (id)
        );
        CREATE INDEX ix_backup_markers_written_at ON backup_markers (written_at);
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE backup_markers")
