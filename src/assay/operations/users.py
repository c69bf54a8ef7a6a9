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


#: a token as every interface shows it (never its value): the catalog's record, as it is
TokenView = TokenRecord


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
    value, token = _new_token("first token", None)
    made = accounts.create_account(catalog, name, created_by=name, password_hash=hashed,
                                   project_id=EVERY_PROJECT, role=Role.ADMIN.value, token=token,
                                   first=True)  # fmt: skip
    return NewUser(_user_view(made.user), IssuedToken(made.token, value))


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
    project_id = _project_key(catalog, actor, project)
    actor.require(project_id, Role.ADMIN, "add users")
    value, token = _new_token("first token", None)
    made = accounts.create_account(catalog, name, created_by=actor.name, password_hash=hashed,
                                   project_id=project_id, role=role.value, token=token)  # fmt: skip
    return NewUser(_user_view(made.user), IssuedToken(made.token, value))


def grant_role(catalog: Catalog, actor: Actor, name: str, role: Role, project: str | None) -> UserView:
    """Give an existing user ``role`` on ``project`` (replacing the role held there)."""
    project_id = _project_key(catalog, actor, project)
    actor.require(project_id, Role.ADMIN, "grant roles")
    return _user_view(accounts.set_role(catalog, name, project_id, role.value))


def list_users(
    catalog: Catalog, actor: Actor, *, after: str | None = None, limit: int = 100
) -> list[UserView]:
    """Every user, by name; ``after``: the ``cursor_of`` the last user of the previous page."""
    actor.require(None, Role.ADMIN, "list the server's users")
    return [_user_view(user) for user in accounts.users_page(catalog, after=after, limit=limit)]


def cursor_of(user: UserView) -> str:
    """Where the next page of ``list_users`` starts: after this user's compared name."""
    from assay.catalog.governance import normalize_identity

    return normalize_identity(user.name)


def tokens_of(catalog: Catalog, actor: Actor, name: str) -> list[TokenView]:
    found = accounts.user_tokens(catalog, name)
    if found is None:
        raise _no_user(name)
    if found.user.id != actor.user_id:
        actor.require(None, Role.ADMIN, "see other users' tokens")
    return list(found.tokens)


def create_token(
    catalog: Catalog,
    actor: Actor,
    *,
    user: str | None = None,
    name: str = "",
    expires_in: timedelta | None = None,
) -> IssuedToken:
    """A new token for ``user`` (default: the actor); for someone else, a server admin's act."""
    if user is None:
        if actor.user_id is None:
            raise InvalidRequest(
                f"{actor.name} is not a user of this server: say whose token it is",
                hint="`assay server tokens create --user NAME`",
            )
        user_id = actor.user_id
    else:
        # NOTE: a user's id never changes and users are not deleted, so looking the name up
        # before the token's own transaction decides the same as doing both in one
        holder = accounts.find_user_named(catalog, user)
        if holder is None:
            raise _no_user(user)
        user_id = holder.id
        if user_id != actor.user_id:
            actor.require(None, Role.ADMIN, "create tokens for other users")
    expires_at = utcnow() + expires_in if expires_in is not None else None
    value, token = _new_token(name or "token", expires_at)
    return IssuedToken(accounts.issue_token(catalog, user_id, token), value)


def revoke_token(catalog: Catalog, actor: Actor, token_id: str) -> TokenView:
    """Revoke one of the actor's tokens (or anyone's, for a server admin); at once, for good."""
    admin = actor.may(None, Role.ADMIN)
    revoked = None
    if admin or actor.user_id is not None:  # an actor who is no user holds no token
        revoked = accounts.revoke_token_of(catalog, token_id.strip(), owner=None if admin else actor.user_id)
    if revoked is None:
        # NOTE: someone else's token is "not found" to a non-admin: its id tells them nothing
        raise NotFound(f"there is no API token {token_id!r} of yours", hint="a token's id is in its listing")
    return revoked


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

    found = accounts.sign_in_credentials(catalog, name) if name.strip() else None
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
        accounts.store_password_hash(catalog, found.user.id, hasher.hash(password))
    return _actor(found.user, Auth.SESSION)


def actor_of_user(catalog: Catalog, user_id: str, auth: Auth) -> Actor:
    """The actor of a signed-in browser session: the user as the catalog has them now."""
    user = accounts.find_user_by_id(catalog, user_id)
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


def _new_token(name: str, expires_at: datetime | None) -> tuple[str, accounts.TokenRequest]:
    """A new token's value (shown once) and what the catalog stores of it."""
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return value, accounts.TokenRequest(name, accounts.token_digest(value), value[:SHOWN_PREFIX], expires_at)


def _project_key(catalog: Catalog, actor: Actor, project: str | None) -> str:
    """The membership key of ``project`` (its id or name), or ``"*"`` for None."""
    if project is None or project.strip() == EVERY_PROJECT:
        return EVERY_PROJECT
    if not actor.everything and not any(role is Role.ADMIN for role in actor.roles.values()):
        actor.require(None, Role.ADMIN, "manage users")
    found = project_index.find_projects(catalog, project.strip())
    if not found:
        raise NotFound(f"there is no project {project!r}", hint="GET /api/v1/projects lists them")
    if len(found) > 1:
        ids = ", ".join(record.id for record in found)
        raise Conflict(f"{len(found)} projects are called {project!r}", hint=f"give one of their ids: {ids}")
    return found[0].id


def _no_user(name: str) -> NotFound:
    return NotFound(f"there is no user {name!r}", hint="`assay server users list` shows them")


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


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _decoy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))
