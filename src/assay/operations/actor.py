"""Who is acting, how they proved it, and what their roles let them do.

Every operation takes an :class:`Actor` first and checks it before it reads or changes anything::

    actor = Actor.local()                       # the CLI on this host: ASSAY_USER or the OS user
    actor = Actor(name="ana", auth=Auth.TOKEN, roles={project_id: Role.APPROVER})
    actor.require(project_id, Role.MEMBER)      # PermissionDenied unless ana is a member or more

Roles are ordered, and each includes the ones below it:

    viewer    read everything of the project
    member    + run pipelines and steps, stop and resume them, comment, score, create datasets
    approver  + decide gates, approve and reject model versions, move protected aliases
    admin     + users, tokens and project settings

NOTE: on this host, without a server, there are no accounts: the local actor holds every role,
as the owner of the folder and its catalog does. Separation of duties still compares its name
(``ASSAY_USER``), which is only as trustworthy as the person at the keyboard; against a server
the name comes from the token alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from assay.errors import InvalidRequest, PermissionDenied

#: the key of a role held on every project of the server
EVERY_PROJECT = "*"


class Role(StrEnum):
    VIEWER = "viewer"
    MEMBER = "member"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise InvalidRequest(
                f"there is no role {text!r}", hint=f"roles: {', '.join(role.value for role in cls)}"
            ) from None


_RANKS = {Role.VIEWER: 0, Role.MEMBER: 1, Role.APPROVER: 2, Role.ADMIN: 3}


class Auth(StrEnum):
    """How an actor proved who they are; recorded with every decision."""

    LOCAL = "local"  # the CLI on this host, no server: the OS account (or ASSAY_USER)
    TOKEN = "token"  # noqa: S105 (Authorization: Bearer <API token>, not a secret)
    SESSION = "session"  # the browser's signed session cookie, after a password sign-in
    SYSTEM = "system"  # the server itself (the scheduler resuming a run, a trigger)


@dataclass(frozen=True)
class Actor:
    """A principal acting on Assay.

    ``roles`` maps a project's id (or ``EVERY_PROJECT``) to the role held there; ``everything``
    holds every role on every project (the local actor, the server's own ``system`` actor).
    """

    name: str
    auth: Auth
    roles: Mapping[str, Role] = field(default_factory=dict)
    everything: bool = False
    user_id: str | None = None

    @classmethod
    def local(cls, name: str | None = None) -> Actor:
        from assay.project import current_user

        return cls(name=name or current_user(), auth=Auth.LOCAL, everything=True)

    @classmethod
    def system(cls) -> Actor:
        return cls(name="assay-server", auth=Auth.SYSTEM, everything=True)

    def role_on(self, project_id: str | None) -> Role | None:
        """The highest role held on ``project_id`` (or on every project); None: none at all."""
        if self.everything:
            return Role.ADMIN
        held = [
            self.roles[key] for key in (project_id, EVERY_PROJECT) if key is not None and key in self.roles
        ]
        return max(held, key=lambda role: role.rank) if held else None

    def may(self, project_id: str | None, role: Role) -> bool:
        held = self.role_on(project_id)
        return held is not None and held.includes(role)

    def require(self, project_id: str | None, role: Role, doing: str = "do that") -> None:
        """``PermissionDenied`` unless this actor holds ``role`` (or more) on the project."""
        if self.may(project_id, role):
            return
        held = self.role_on(project_id)
        raise PermissionDenied(
            f"{self.name} may not {doing}: it needs the {role.value} role"
            + (f", and {self.name} is a {held.value} of this project" if held else " on this project"),
            hint="an admin grants roles with `assay server users add NAME --role ROLE --project P`",
        )

    def project_ids(self) -> set[str] | None:
        """The projects this actor holds a role on; None: every project."""
        if self.everything or EVERY_PROJECT in self.roles:
            return None
        return set(self.roles)
