"""``/api/v1/users`` and ``/api/v1/tokens``: accounts (server admins) and API tokens (each
user their own; admins anyone's). A token's value appears once: in the answer that made it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from assay.operations import users
from assay.operations.actor import Role
from assay.server.deps import CatalogDep, Context, CurrentActor
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, page_of

router = APIRouter(prefix="/api/v1", tags=["users"])


class RolePublic(BaseModel):
    project: str = Field(description='A project\'s id, or "*" for every project')
    role: Role


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    role: Role
    project: str | None = Field(default=None, description="A project's id or name; none: every project")
    password: str | None = Field(default=None, min_length=users.MIN_PASSWORD, max_length=1024)


class UserPublic(BaseModel):
    id: str
    name: str
    created_at: datetime
    created_by: str
    disabled: bool
    has_password: bool
    roles: list[RolePublic]

    @classmethod
    def of(cls, user: users.UserView) -> UserPublic:
        return cls(id=user.id, name=user.name, created_at=user.created_at, created_by=user.created_by,
                   disabled=user.disabled, has_password=user.has_password,
                   roles=[RolePublic(project=g.project, role=g.role) for g in user.roles])  # fmt: skip


class UsersPublic(BaseModel):
    data: list[UserPublic]
    next_cursor: str | None


class TokenCreate(BaseModel):
    name: str = Field(default="", max_length=255)
    user: str | None = Field(default=None, description="Whose token (a server admin's act); none: yours")
    expires_in: str | None = Field(default=None, description="e.g. 30d, 12h, 90m, 2w; none: never expires")


class TokenPublic(BaseModel):
    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    value: str | None = Field(default=None, description="The token itself: only in the answer that made it")

    @classmethod
    def of(cls, token: users.TokenView, value: str | None = None) -> TokenPublic:
        return cls(id=token.id, user_id=token.user_id, name=token.name, prefix=token.prefix,
                   created_at=token.created_at, expires_at=token.expires_at, revoked_at=token.revoked_at,
                   last_used_at=token.last_used_at, value=value)  # fmt: skip


class TokensPublic(BaseModel):
    data: list[TokenPublic]
    next_cursor: str | None


class UserCreated(BaseModel):
    user: UserPublic
    token: TokenPublic


@router.get("/users", summary="The server's users (server admin)")
def list_users(
    catalog: CatalogDep, actor: CurrentActor, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> UsersPublic:
    after = decode_cursor(cursor, parts=1)
    rows = users.list_users(catalog, actor, after=after[0] if after else None, limit=limit + 1)
    page, next_cursor = page_of(rows, limit, lambda user: (users.cursor_of(user),))
    return UsersPublic(data=[UserPublic.of(user) for user in page], next_cursor=next_cursor)


@router.post("/users", status_code=201, summary="Add a user with a role, and their first token (admin)")
def add_user(
    catalog: CatalogDep, actor: CurrentActor, context: Context, body: Annotated[UserCreate, Body()]
) -> UserCreated:
    made = users.add_user(catalog, actor, body.name, body.role, body.project, body.password)
    context.forget_accounts()  # a role granted to a user who exists holds from the next request
    return UserCreated(
        user=UserPublic.of(made.user), token=TokenPublic.of(made.token.token, made.token.value)
    )


@router.get("/tokens", summary="Your API tokens (without their values)")
def list_tokens(catalog: CatalogDep, actor: CurrentActor) -> TokensPublic:
    found = users.tokens_of(catalog, actor, actor.name)
    return TokensPublic(data=[TokenPublic.of(token) for token in found], next_cursor=None)


@router.post("/tokens", status_code=201, summary="A new API token; its value is shown once")
def create_token(
    catalog: CatalogDep, actor: CurrentActor, body: Annotated[TokenCreate, Body()]
) -> TokenPublic:
    expires_in = users.parse_duration(body.expires_in) if body.expires_in else None
    issued = users.create_token(catalog, actor, user=body.user, name=body.name, expires_in=expires_in)
    return TokenPublic.of(issued.token, issued.value)


@router.delete("/tokens/{token_id}", summary="Revoke an API token: at once, for good")
def revoke_token(catalog: CatalogDep, actor: CurrentActor, context: Context, token_id: str) -> TokenPublic:
    revoked = users.revoke_token(catalog, actor, token_id)
    context.forget_accounts()  # refused from the next request on, as the summary says
    return TokenPublic.of(revoked)
