"""The partner tree: which orgs a report for a partner (or one of its sub-partners) covers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from chalicelib.domain.errors import Forbidden
from chalicelib.domain.report_rows import Partner


class PartnerTree:
    def __init__(self, partners: Iterable[Partner]) -> None:
        self._partners = {partner.org_id: partner for partner in partners}
        self._children: dict[str, list[str]] = {}
        for partner in self._partners.values():
            if partner.parent_org_id:
                self._children.setdefault(partner.parent_org_id, []).append(partner.org_id)

    def get(self, org_id: str) -> Partner | None:
        return self._partners.get(org_id)

    def find(self, org_id_or_name: str) -> list[Partner]:
        """The partner of this org id, else the partners of this name (case-insensitive): what
        a person types to name a partner. More than one means the name is ambiguous."""
        partner = self._partners.get(org_id_or_name)
        if partner is not None:
            return [partner]
        wanted = org_id_or_name.strip().casefold()
        return sorted(
            (partner for partner in self._partners.values() if partner.name.casefold() == wanted),
            key=lambda partner: partner.org_id,
        )

    def __iter__(self) -> Iterator[Partner]:
        """Every partner, each after its parent (roots by name, then their sub-partners)."""
        roots = [org_id for org_id, partner in self._partners.items() if partner.parent_org_id not in self._partners]
        seen: set[str] = set()
        stack = sorted(roots, key=lambda org_id: self._partners[org_id].name, reverse=True)
        while stack:
            org_id = stack.pop()
            if org_id in seen:
                continue
            seen.add(org_id)
            yield self._partners[org_id]
            children = sorted(self._children.get(org_id, []), key=lambda child: self._partners[child].name)
            stack.extend(reversed(children))

    def subtree(self, root_org_id: str) -> list[str]:
        """`root_org_id` and all its descendants, sorted; cycles in bad data are tolerated."""
        seen: set[str] = set()
        stack = [root_org_id]
        while stack:
            org_id = stack.pop()
            if org_id in seen:
                continue
            seen.add(org_id)
            stack.extend(self._children.get(org_id, []))
        return sorted(seen)

    def report_scope(self, partner_org_id: str, sub_partner_org_id: str | None) -> Partner:
        """The partner a report names and covers; a sub-partner must be a strict descendant."""
        partner = self._partners.get(partner_org_id)
        if partner is None:
            raise Forbidden("The caller's organization is not a known partner")
        if sub_partner_org_id is None:
            return partner
        if sub_partner_org_id == partner_org_id or sub_partner_org_id not in self.subtree(partner_org_id):
            raise Forbidden(
                "subPartnerOrgId is not a sub-partner of the caller's organization",
                [f"subPartnerOrgId: {sub_partner_org_id!r} is not in the caller's partner tree"],
            )
        return self._partners[sub_partner_org_id]
