"""Media: listing images (originals and WebP variants are files named by their sha256).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listing_images",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("listing_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("uploaded_by", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("original_sha256", postgresql.CHAR(64), nullable=False),
        sa.Column("original_format", sa.Text(), nullable=False),
        sa.Column("original_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column(
            "variants", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.CheckConstraint(
            "status IN ('processing', 'ready', 'failed')", name=op.f("ck_listing_images_status")
        ),
        sa.CheckConstraint(
            "original_format IN ('jpeg', 'png', 'webp')",
            name=op.f("ck_listing_images_original_format"),
        ),
        sa.CheckConstraint(
            "original_sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_listing_images_original_sha256")
        ),
        sa.CheckConstraint("width > 0 AND height > 0", name=op.f("ck_listing_images_dimensions")),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["listings.id"],
            name=op.f("fk_listing_images_listing_id_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_listing_images_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_images")),
    )
    op.create_index(
        "ix_listing_images_listing_id_created_at",
        "listing_images",
        ["listing_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_listing_images_listing_id_created_at", table_name="listing_images")
    op.drop_table("listing_images")
