"""The server's accounts: the first admin, users and their roles, API tokens, and proving who
is asking (a token, or a password at the browser's sign-in)::

    first = init_server(catalog, "admin")           # Conflict once any user exists
    first.token.value                               # "assay_…": shown once, stored hashed
    ana = add_user(catalog, admin, "ana", Role.APPROVER, project="summarizer", password=None)
    actor = authenticate_token(catalog, ana.token.value)       # Unauthenticated (401) if not valid
    actor = authenticate_password(catalog, "ana", "correct horse")

Users are the catalog's, not a project's: these take the catalog, not a workspace. Roles are
per project (its id) or on every project (``"*"``); a server admin is an admin on ``"*"``.
Managing users, and other people's tokens, needs that; a project's admin may add users to it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from assay.catalog import accounts, project_index
from assay.catalog.accounts import TokenRecord, UserRecord
from assay.catalog.tables import utcnow
from assay.errors import Conflict, InvalidRequest, NotFound, Unauthenticated
from assay.operations.actor import EVERY_PROJECT, Actor, Auth, Role

if TYPE_CHECKING:
    from argon2 import PasswordHasher
    from sqlalchemy.orm import Session

    from assay.catalog import Catalog

#: what every API token starts with, so a leaked one is recognisable (secret scanners, logs)
TOKEN_PREFIX = "assay_"  # noqa: S105 (a label, not a secret)
#: how much of a token is kept to tell tokens apart in a list
SHOWN_PREFIX = 12
MIN_PASSWORD = 8
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class RoleGrant:
    project: str  # a project's id, or "*" (every project)
    role: Role


@dataclass(frozen=True)
class UserView:
    id: str
    name: str
    created_at: datetime
    created_by: str
    disabled: bool
    has_password: bool
    roles: tuple[RoleGrant, ...]


@dataclass(frozen=True)
class TokenView:
    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``value`` is its only appearance anywhere; the catalog keeps a digest."""

    token: TokenView
    value: str


@dataclass(frozen=True)
class NewUser:
    user: UserView
    token: IssuedToken


def init_server(catalog: Catalog, name: str, *, password: str | None = None) -> NewUser:
    """The first admin (admin on every project), and its first token; only while no user exists."""
    hashed = hash_password(password) if password is not None else None
    with catalog.transaction() as session:
        if accounts.count_users(session) > 0:
            raise Conflict(
                "this server has its users already: it was initialized before",
                hint="an admin adds users with `assay server users add NAME --role ROLE`",
            )
        user = accounts.create_user(session, name, created_by=name, password_hash=hashed)
        accounts.grant_role(session, user.id, EVERY_PROJECT, Role.ADMIN.value)
        issued = _issue(session, user.id, "first token", None)
        return NewUser(_user_view(accounts.get_user(session, user.id) or user), issued)


def add_user(
    catalog: Catalog,
    actor: Actor,
    name: str,
    role: Role,
    project: str | None,
    password: str | None,
) -> NewUser:
    """A new user holding ``role`` on ``project`` (its id or name; None: every project), and
    the user's first token."""
    hashed = hash_password(password) if password is not None else None
    with catalog.transaction() as session:
        project_id = _project_key(session, actor, project)
        actor.require(project_id, Role.ADMIN, "add users")
        user = accounts.create_user(session, name, created_by=actor.name, password_hash=hashed)
        accounts.grant_role(session, user.id, project_id, role.value)
        issued = _issue(session, user.id, "first token", None)
        return NewUser(_user_view(accounts.get_user(session, user.id) or user), issued)


def grant_role(catalog: Catalog, actor: Actor, name: str, role: Role, project: str | None) -> UserView:
    """Give an existing user ``role`` on ``project`` (replacing the role held there)."""
    with catalog.transaction() as session:
        project_id = _project_key(session, actor, project)
        actor.require(project_id, Role.ADMIN, "grant roles")
        user = accounts.find_user(session, name)
        if user is None:
            raise NotFound(f"there is no user {name!r}", hint="`assay server users list` shows them")
        accounts.grant_role(session, user.id, project_id, role.value)
        return _user_view(accounts.get_user(session, user.id) or user)


def list_users(
    catalog: Catalog, actor: Actor, *, after: str | None = None, limit: int = 100
) -> list[UserView]:
    """Every user, by name; ``after``: the ``cursor_of`` the last user of the previous page."""
    actor.require(None, Role.ADMIN, "list the server's users")
    with catalog.read() as session:
        return [_user_view(user) for user in accounts.list_users(session, after=after, limit=limit)]


def cursor_of(user: UserView) -> str:
    """Where the next page of ``list_users`` starts: after this user's compared name."""
    from assay.catalog.governance import normalize_identity

    return normalize_identity(user.name)


def tokens_of(catalog: Catalog, actor: Actor, name: str) -> list[TokenView]:
    with catalog.read() as session:
        user = _user_named(session, name)
        if user.id != actor.user_id:
            actor.require(None, Role.ADMIN, "see other users' tokens")
        return [_token_view(token) for token in accounts.tokens_of(session, user.id)]


def create_token(
    catalog: Catalog,
    actor: Actor,
    *,
    user: str | None = None,
    name: str = "",
    expires_in: timedelta | None = None,
) -> IssuedToken:
    """A new token for ``user`` (default: the actor); for someone else, a server admin's act."""
    with catalog.transaction() as session:
        if user is None:
            if actor.user_id is None:
                raise InvalidRequest(
                    f"{actor.name} is not a user of this server: say whose token it is",
                    hint="`assay server tokens create --user NAME`",
                )
            user_id = actor.user_id
        else:
            user_id = _user_named(session, user).id
            if user_id != actor.user_id:
                actor.require(None, Role.ADMIN, "create tokens for other users")
        expires_at = utcnow() + expires_in if expires_in is not None else None
        return _issue(session, user_id, name or "token", expires_at)


def revoke_token(catalog: Catalog, actor: Actor, token_id: str) -> TokenView:
    """Revoke one of the actor's tokens (or anyone's, for a server admin); at once, for good."""
    with catalog.transaction() as session:
        found = accounts.get_token(session, token_id.strip())
        if found is None or (found.user_id != actor.user_id and not actor.may(None, Role.ADMIN)):
            # NOTE: someone else's token is "not found" to a non-admin: its id tells them nothing
            raise NotFound(
                f"there is no API token {token_id!r} of yours", hint="a token's id is in its listing"
            )
        return _token_view(accounts.revoke_token(session, found.id))


def authenticate_token(catalog: Catalog, token: str) -> Actor:
    """The actor a bearer token stands for; ``Unauthenticated`` if unknown, revoked or expired."""
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("that is not an Assay API token", hint=_TOKEN_HINT)
    holder = accounts.token_holder(catalog, accounts.token_digest(token))
    if holder is None:
        raise Unauthenticated("the API token is not known to this server", hint=_TOKEN_HINT)
    if holder.token.revoked_at is not None:
        raise Unauthenticated("the API token was revoked", hint=_TOKEN_HINT)
    if holder.token.expires_at is not None and holder.token.expires_at <= utcnow():
        raise Unauthenticated("the API token has expired", hint=_TOKEN_HINT)
    return _actor(holder.user, Auth.TOKEN)


def authenticate_password(catalog: Catalog, name: str, password: str) -> Actor:
    """The actor whose name and password these are; ``Unauthenticated`` otherwise.

    NOTE: an unknown name (or a user without a password) costs one argon2 verification too, so
    the time an answer takes does not tell which names exist.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    with catalog.read() as session:
        found = accounts.credentials(session, name) if name.strip() else None
    hasher = _hasher()
    stored = found.password_hash if found is not None and found.password_hash else None
    try:
        hasher.verify(stored or _decoy_hash(), password)
        verified = stored is not None
    except (VerificationError, InvalidHashError):
        verified = False
    if not verified or found is None or found.user.disabled:
        raise Unauthenticated("wrong name or password", hint="an admin can set a password for you")
    if hasher.check_needs_rehash(stored or ""):
        with catalog.transaction() as session:
            accounts.set_password_hash(session, found.user.id, hasher.hash(password))
    return _actor(found.user, Auth.SESSION)


def actor_of_user(catalog: Catalog, user_id: str, auth: Auth) -> Actor:
    """The actor of a signed-in browser session: the user as the catalog has them now."""
    with catalog.read() as session:
        user = accounts.get_user(session, user_id)
    if user is None or user.disabled:
        raise Unauthenticated("this session's user is no longer a user of this server", hint="sign in again")
    return _actor(user, auth)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(
            f"the password is too short: {len(password)} characters",
            hint=f"use at least {MIN_PASSWORD} characters (a passphrase of a few words is best)",
        )
    return _hasher().hash(password)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``: how long a token stays valid."""
    match = _DURATION.match(text)
    if match is None or int(match.group(1)) == 0:
        raise InvalidRequest(f"{text!r} is not a duration", hint="e.g. 30d, 12h, 90m or 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


_ROLE_NAMES = frozenset(role.value for role in Role)
_TOKEN_HINT = "create a new token with `assay server tokens create`, or ask an admin for one"  # noqa: S105


def _issue(session: Session, user_id: str, name: str, expires_at: datetime | None) -> IssuedToken:
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = accounts.create_token(
        session, user_id, name, accounts.token_digest(value), value[:SHOWN_PREFIX], expires_at=expires_at
    )
    return IssuedToken(_token_view(record), value)


def _project_key(session: Session, actor: Actor, project: str | None) -> str:
    """The membership key of ``project`` (its id or name), or ``"*"`` for None."""
    if project is None or project.strip() == EVERY_PROJECT:
        return EVERY_PROJECT
    if not actor.everything and not any(role is Role.ADMIN for role in actor.roles.values()):
        actor.require(None, Role.ADMIN, "manage users")
    found = project_index.find_projects(session, project.strip())
    if not found:
        raise NotFound(f"there is no project {project!r}", hint="GET /api/v1/projects lists them")
    if len(found) > 1:
        ids = ", ".join(record.id for record in found)
        raise Conflict(f"{len(found)} projects are called {project!r}", hint=f"give one of their ids: {ids}")
    return found[0].id


def _user_named(session: Session, name: str) -> UserRecord:
    user = accounts.find_user(session, name)
    if user is None:
        raise NotFound(f"there is no user {name!r}", hint="`assay server users list` shows them")
    return user


def _actor(user: UserRecord, auth: Auth) -> Actor:
    roles: dict[str, Role] = {}
    for project_id, role in user.roles:
        try:
            roles[project_id] = Role(role)
        except ValueError:
            continue  # a role this version does not know grants nothing
    return Actor(name=user.name, auth=auth, roles=roles, user_id=user.id)


def _user_view(user: UserRecord) -> UserView:
    grants = tuple(RoleGrant(project, Role(role)) for project, role in user.roles if role in _ROLE_NAMES)
    return UserView(id=user.id, name=user.name, created_at=user.created_at, created_by=user.created_by,
                    disabled=user.disabled, has_password=user.has_password, roles=grants)  # fmt: skip


def _token_view(token: TokenRecord) -> TokenView:
    return TokenView(id=token.id, user_id=token.user_id, name=token.name, prefix=token.prefix,
                     created_at=token.created_at, expires_at=token.expires_at,
                     revoked_at=token.revoked_at, last_used_at=token.last_used_at)  # fmt: skip


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _decoy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))
