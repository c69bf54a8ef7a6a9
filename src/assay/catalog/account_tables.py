"""Tables of the server's accounts, and of the approvals a gate collects before it opens.

Migration ``0008_server`` creates them (and the columns the server adds to projects, executions
and gates: where a project's code comes from, which commit an execution ran, how a decider
authenticated).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from assay.catalog.tables import Base, BigID, new_id, utcnow

#: the project of a membership that holds on every project of the server
EVERY_PROJECT = "*"


class User(Base):
    """A person (or a robot) the server knows. ``name`` is kept as given; ``key`` is its
    NFKC-casefolded form, unique, so ``Alice`` and ``alice`` are one principal."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255), unique=True)
    #: argon2 hash of the browser sign-in password; None: the user signs in with tokens only
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Membership(Base):
    """A user's role on one project, or on every project (``project_id`` = ``"*"``)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "project_id", name="uq_memberships_user_project"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    #: a project's id, or ``EVERY_PROJECT``; not a foreign key for that reason
    project_id: Mapped[str] = mapped_column(String(36))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token: only its SHA-256 digest is stored; the token is shown once, at creation."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: the token's first characters, to tell tokens apart in a list (never enough to use one)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)


class GateApproval(Base):
    """One approver's approval of a gate. A gate that needs N approvals (``approvals:
    {required: N}``) opens when N distinct principals have one here; a principal approves once."""

    __tablename__ = "gate_approvals"
    __table_args__ = (UniqueConstraint("gate_id", "principal", name="uq_gate_approvals_gate_principal"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    gate_id: Mapped[str] = mapped_column(ForeignKey("gates.id"))
    #: the identity's comparison key (NFKC + casefold), as separation of duties compares them
    principal: Mapped[str] = mapped_column(String(255))
    #: the name as the principal spells it
    shown_as: Mapped[str] = mapped_column(String(255))
    auth_method: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
