"""The server's accounts: users, their roles per project, and API tokens (``account_tables.py``).

Only frozen views leave this module; an API token's plain value never enters it — the caller
hashes it (:func:`token_digest`) and this module stores and compares digests::

    made = create_account(catalog, "Ana", created_by="admin", password_hash=None,
                          project_id="*", role="admin", token=TokenRequest("first", digest, prefix))
    user = find_user_named(catalog, "ana")                       # UserRecord, or None
    found = token_holder(catalog, digest)                        # TokenHolder, or None

The functions that take the ``Catalog`` are the use cases, each one session of its own; those
that take a ``Session`` are their parts.

Names are unique in their compared form (``governance.normalize_identity``): ``Ana`` and
``ana`` are one principal, as separation of duties compares them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assay.catalog.account_tables import ApiToken, Membership, User
from assay.catalog.governance import normalize_identity
from assay.catalog.tables import utcnow
from assay.errors import Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from assay.catalog.db import Catalog

#: how stale ``last_used_at`` may get before a request writes it again: a token used on every
#: request would otherwise take SQLite's write lock on every request
LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class UserRecord:
    id: str
    name: str
    key: str
    created_at: datetime
    created_by: str
    disabled: bool
    has_password: bool
    #: project id (or ``"*"``) → role name
    roles: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class TokenRecord:
    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class TokenHolder:
    """What authenticating a token needs: the token's state and its user's."""

    token: TokenRecord
    user: UserRecord


@dataclass(frozen=True)
class TokenRequest:
    """A token to store: its name, its value's digest and shown prefix, and when it expires."""

    name: str
    digest: str
    prefix: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class NewAccount:
    """A user just made, as the catalog has them (roles included), and their first token."""

    user: UserRecord
    token: TokenRecord


@dataclass(frozen=True)
class UserTokens:
    user: UserRecord
    tokens: tuple[TokenRecord, ...]


@dataclass(frozen=True)
class Credentials:
    """A user and the password hash to verify a sign-in against (None: tokens only)."""

    user: UserRecord
    password_hash: str | None


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored and looked up.

    NOTE: a plain hash, not a slow one: a token carries 256 random bits, so nobody guesses it
    from its digest, and a slow hash would cost every request.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_account(
    catalog: Catalog,
    name: str,
    *,
    created_by: str,
    password_hash: str | None,
    project_id: str,
    role: str,
    token: TokenRequest,
    first: bool = False,
) -> NewAccount:
    """A new user holding ``role`` on ``project_id`` (or ``"*"``) and their first token, in one
    transaction; ``first``: only while the server has no user at all (its first admin)."""
    with catalog.transaction() as session:
        if first and count_users(session) > 0:
            raise Conflict(
                "this server has its users already: it was initialized before",
                hint="an admin adds users with `assay server users add NAME --role ROLE`",
            )
        user = create_user(session, name, created_by=created_by, password_hash=password_hash)
        grant_role(session, user.id, project_id, role)
        issued = _store_token(session, user.id, token)
        return NewAccount(get_user(session, user.id) or user, issued)


def set_role(catalog: Catalog, name: str, project_id: str, role: str) -> UserRecord:
    """Give the user called ``name`` ``role`` on ``project_id``; the user as they are after."""
    with catalog.transaction() as session:
        user = find_user(session, name)
        if user is None:
            raise NotFound(f"there is no user {name!r}", hint="`assay server users list` shows them")
        grant_role(session, user.id, project_id, role)
        return get_user(session, user.id) or user


def users_page(catalog: Catalog, *, after: str | None, limit: int) -> list[UserRecord]:
    with catalog.read() as session:
        return list_users(session, after=after, limit=limit)


def find_user_named(catalog: Catalog, name: str) -> UserRecord | None:
    with catalog.read() as session:
        return find_user(session, name)


def find_user_by_id(catalog: Catalog, user_id: str) -> UserRecord | None:
    with catalog.read() as session:
        return get_user(session, user_id)


def user_tokens(catalog: Catalog, name: str) -> UserTokens | None:
    """The user called ``name`` and their tokens, oldest first; None: no such user."""
    with catalog.read() as session:
        user = find_user(session, name)
        return None if user is None else UserTokens(user, tuple(tokens_of(session, user.id)))


def issue_token(catalog: Catalog, user_id: str, token: TokenRequest) -> TokenRecord:
    with catalog.transaction() as session:
        return _store_token(session, user_id, token)


def revoke_token_of(catalog: Catalog, token_id: str, *, owner: str | None) -> TokenRecord | None:
    """Revoke the token ``token_id`` if ``owner`` holds it (None: whoever does); None when there
    is no such token of theirs, and then nothing changes."""
    with catalog.transaction() as session:
        found = get_token(session, token_id)
        if found is None or (owner is not None and found.user_id != owner):
            return None
        return revoke_token(session, found.id)


def sign_in_credentials(catalog: Catalog, name: str) -> Credentials | None:
    with catalog.read() as session:
        return credentials(session, name)


def store_password_hash(catalog: Catalog, user_id: str, password_hash: str | None) -> None:
    with catalog.transaction() as session:
        set_password_hash(session, user_id, password_hash)


def count_users(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(User)) or 0)


def create_user(
    session: Session, name: str, *, created_by: str, password_hash: str | None = None
) -> UserRecord:
    shown = name.strip()
    key = normalize_identity(shown)
    if not key or len(shown) > 255 or any(ord(char) < 32 for char in shown):
        raise InvalidRequest(
            f"{name!r} is not a user name", hint="a name of 1 to 255 printable characters, e.g. ana"
        )
    if session.scalar(select(User.id).where(User.key == key)) is not None:
        raise Conflict(f"there is a user {shown!r} already", hint="`assay server users list` shows them")
    user = User(name=shown, key=key, password_hash=password_hash, created_by=created_by, created_at=utcnow())
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent creator of the same name won
        raise Conflict(f"there is a user {shown!r} already") from None
    return _user_record(session, user)


def find_user(session: Session, name: str) -> UserRecord | None:
    user = session.scalar(select(User).where(User.key == normalize_identity(name)))
    return None if user is None else _user_record(session, user)


def get_user(session: Session, user_id: str) -> UserRecord | None:
    user = session.get(User, user_id)
    return None if user is None else _user_record(session, user)


def credentials(session: Session, name: str) -> Credentials | None:
    user = session.scalar(select(User).where(User.key == normalize_identity(name)))
    return None if user is None else Credentials(_user_record(session, user), user.password_hash)


def set_password_hash(session: Session, user_id: str, password_hash: str | None) -> None:
    changed = session.execute(
        update(User).where(User.id == user_id).values(password_hash=password_hash)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        raise NotFound(f"there is no user {user_id}")


def grant_role(session: Session, user_id: str, project_id: str, role: str) -> None:
    """Give the user ``role`` on ``project_id`` (or ``"*"``), replacing the one held there."""
    membership = session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.project_id == project_id)
    )
    if membership is None:
        session.add(Membership(user_id=user_id, project_id=project_id, role=role, created_at=utcnow()))
    else:
        membership.role = role
    session.flush()


def list_users(session: Session, *, after: str | None, limit: int) -> list[UserRecord]:
    """Users in the order of their compared names, from the one after the key ``after``."""
    query = select(User).order_by(User.key).limit(limit)
    if after is not None:
        query = query.where(User.key > after)
    users = list(session.scalars(query))
    roles = _roles_of(session, [user.id for user in users])
    return [_user_record(session, user, roles.get(user.id, ())) for user in users]


def create_token(
    session: Session, user_id: str, name: str, digest: str, prefix: str, *, expires_at: datetime | None
) -> TokenRecord:
    if session.get(User, user_id) is None:
        raise NotFound(f"there is no user {user_id}")
    token = ApiToken(user_id=user_id, name=name[:255], digest=digest, prefix=prefix, created_at=utcnow(),
                     expires_at=expires_at)  # fmt: skip
    session.add(token)
    session.flush()
    return _token_record(token)


def _store_token(session: Session, user_id: str, token: TokenRequest) -> TokenRecord:
    return create_token(session, user_id, token.name, token.digest, token.prefix, expires_at=token.expires_at)


def get_token(session: Session, token_id: str) -> TokenRecord | None:
    token = session.get(ApiToken, token_id)
    return None if token is None else _token_record(token)


def tokens_of(session: Session, user_id: str) -> list[TokenRecord]:
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at)
    return [_token_record(token) for token in session.scalars(query)]


def revoke_token(session: Session, token_id: str) -> TokenRecord:
    """Revoke once; revoking a revoked token changes nothing (it stays revoked when it was)."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"there is no API token {token_id}", hint="`assay server users list` shows tokens")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return _token_record(token)


def token_holder(catalog: Catalog, digest: str) -> TokenHolder | None:
    """The token stored under ``digest`` and its user; notes the use when the last is stale."""
    with catalog.read() as session:
        token = session.scalar(select(ApiToken).where(ApiToken.digest == digest))
        if token is None:
            return None
        user = session.get(User, token.user_id)
        if user is None:
            return None
        found = TokenHolder(_token_record(token), _user_record(session, user))
    now = utcnow()
    last = found.token.last_used_at
    if last is None or now - last > LAST_USED_RESOLUTION:
        with catalog.transaction() as session:
            session.execute(update(ApiToken).where(ApiToken.id == found.token.id).values(last_used_at=now))
    return found


def _roles_of(session: Session, user_ids: list[str]) -> dict[str, tuple[tuple[str, str], ...]]:
    if not user_ids:
        return {}
    rows = session.execute(
        select(Membership.user_id, Membership.project_id, Membership.role)
        .where(Membership.user_id.in_(user_ids))
        .order_by(Membership.project_id)
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for user_id, project_id, role in rows:
        found.setdefault(user_id, []).append((project_id, role))
    return {user_id: tuple(roles) for user_id, roles in found.items()}


def _user_record(
    session: Session, user: User, roles: tuple[tuple[str, str], ...] | None = None
) -> UserRecord:
    if roles is None:
        roles = _roles_of(session, [user.id]).get(user.id, ())
    return UserRecord(id=user.id, name=user.name, key=user.key, created_at=user.created_at,
                      created_by=user.created_by, disabled=user.disabled_at is not None,
                      has_password=user.password_hash is not None, roles=roles)  # fmt: skip


def _token_record(token: ApiToken) -> TokenRecord:
    return TokenRecord(id=token.id, user_id=token.user_id, name=token.name, prefix=token.prefix,
                       created_at=token.created_at, expires_at=token.expires_at,
                       revoked_at=token.revoked_at, last_used_at=token.last_used_at)  # fmt: skip
