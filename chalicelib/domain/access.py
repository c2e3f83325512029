"""Who is calling and what their token lets them do (ARCHITECTURE.md §2 Auth)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import Forbidden

READ_SCOPE = "spark-admin:wholesale_billing_reports_read"
WRITE_SCOPE = "spark-admin:wholesale_billing_reports_write"


@dataclass(frozen=True)
class Caller:
    org_id: str
    person_id: str
    scopes: frozenset[str]

    @classmethod
    def from_claims(cls, org_id: str, person_id: str, scope: str) -> Caller:
        return cls(org_id, person_id, frozenset(scope.split()))

    def require_read(self) -> None:
        if not self.scopes & {READ_SCOPE, WRITE_SCOPE}:
            raise Forbidden(f"The access token lacks the {READ_SCOPE} scope")

    def require_write(self) -> None:
        if WRITE_SCOPE not in self.scopes:
            raise Forbidden(f"The access token lacks the {WRITE_SCOPE} scope")
