"""Payments through a provider: payments, refund/balance records, bank statement lines

Revision ID: payments_0001
Revises: review_0001

Fines paid before this revision keep ``paid_cents`` 0 and no ``payments`` row: their
``payment_ref`` still says what paid them (a self-declared reference, before payments
had to come from a provider, the bank or a cashier).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "payments_0001"
down_revision = "review_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paid_cents", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fine_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=128), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("receipt_no", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["fine_id"], ["fines.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "provider_payment_id", name="uq_payments_provider_id"),
    )
    op.create_index(op.f("ix_payments_fine_id"), "payments", ["fine_id"], unique=False)
    op.create_table(
        "payment_adjustments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fine_id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.Column("settled_by", sa.String(length=128), nullable=True),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["fine_id"], ["fines.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_payment_adjustments_fine_id"), "payment_adjustments", ["fine_id"], unique=False
    )
    op.create_index(
        op.f("ix_payment_adjustments_status"), "payment_adjustments", ["status"], unique=False
    )
    op.create_table(
        "statement_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("booked", sa.DateTime(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("remittance", sa.String(length=500), nullable=False),
        sa.Column("counterparty", sa.String(length=200), nullable=False),
        sa.Column("bank_ref", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("fine_id", sa.Integer(), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("imported_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["fine_id"], ["fines.id"]),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("line_key"),
    )
    op.create_index(op.f("ix_statement_lines_status"), "statement_lines", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_statement_lines_status"), table_name="statement_lines")
    op.drop_table("statement_lines")
    op.drop_index(op.f("ix_payment_adjustments_status"), table_name="payment_adjustments")
    op.drop_index(op.f("ix_payment_adjustments_fine_id"), table_name="payment_adjustments")
    op.drop_table("payment_adjustments")
    op.drop_index(op.f("ix_payments_fine_id"), table_name="payments")
    op.drop_table("payments")
    with op.batch_alter_table("fines", schema=None) as batch_op:
        batch_op.drop_column("paid_cents")
