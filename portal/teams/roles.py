"""The four team roles and what each may do, in one table.

A role grants capabilities; every route names the one capability it needs
(``portal.teams.access.ACCESS``). Framework-free, so domain code and templates can ask too.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    BILLING = "billing"
    DEVELOPER = "developer"
    VIEWER = "viewer"


class Capability(StrEnum):
    USAGE = "usage"
    KEYS = "keys"
    BILLING = "billing"
    MEMBERS = "members"


GRANTS: dict[Role, frozenset[Capability]] = {
    Role.OWNER: frozenset(Capability),
    Role.BILLING: frozenset({Capability.USAGE, Capability.BILLING}),
    Role.DEVELOPER: frozenset({Capability.USAGE, Capability.KEYS}),
    Role.VIEWER: frozenset({Capability.USAGE}),
}

#: The roles an invite or a role change may give. Ownership only moves by a handover, which
#: asks for the owner's password.
ASSIGNABLE_ROLES = (Role.BILLING, Role.DEVELOPER, Role.VIEWER)

#: How the pages describe each role.
ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.OWNER: "everything, including members and ownership",
    Role.BILLING: "plans, checkout, cards, invoices, overage settings and usage",
    Role.DEVELOPER: "API keys and usage",
    Role.VIEWER: "usage only",
}

#: What each capability is called in a refusal ("... does not include API keys").
CAPABILITY_WORDS: dict[Capability, str] = {
    Capability.USAGE: "usage",
    Capability.KEYS: "API keys",
    Capability.BILLING: "billing",
    Capability.MEMBERS: "managing the team",
}


def parse_role(value: object) -> Role | None:
    """The role named by ``value``, or None for anything else."""
    try:
        return Role(value) if isinstance(value, str) else None
    except ValueError:
        return None


def may(role: str | None, capability: Capability) -> bool:
    """Whether ``role`` (a membership's role column) grants ``capability``."""
    parsed = parse_role(role)
    return parsed is not None and capability in GRANTS[parsed]
