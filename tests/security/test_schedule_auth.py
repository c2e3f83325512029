"""Where a schedule may aim (DESIGN §13): never at another partner's tree, another partner's prefix
or the service's own buckets. A refused request writes nothing (the schedules table is compared
before and after). Who may use the schedule routes at all, and reach whose schedules, is
tests/security/test_kept_items_auth.py's (with webhooks)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.access import WRITE_SCOPE, Caller
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.security import test_auth_matrix as matrix
from tests.security.conftest import FOREIGN_SUB_PARTNER, SecurityStack, assert_webex_error
from tests.security.test_auth_matrix import Forge
from tests.security.test_kept_items_auth import SCHEDULES, footprint, send

forge, foreign_keys = matrix.forge, matrix.foreign_keys  # the matrix's fixtures, used here too


@pytest.mark.parametrize(
    ("caller_org", "body", "status"),
    [
        (DEMO_PARTNER, {"subPartnerOrgId": OTHER_PARTNER}, 403),
        (DEMO_PARTNER, {"subPartnerOrgId": FOREIGN_SUB_PARTNER}, 403),
        (DEMO_SUB_PARTNER, {"subPartnerOrgId": DEMO_PARTNER}, 403),
        (OTHER_PARTNER, {"subPartnerOrgId": DEMO_SUB_PARTNER}, 403),
        (DEMO_PARTNER, {"s3Bucket": "partner-exports", "s3Prefix": f"x/{OTHER_PARTNER}"}, 400),
        (DEMO_PARTNER, {"s3Bucket": "partner-exports", "s3Prefix": FOREIGN_SUB_PARTNER + "/"}, 400),
        (DEMO_SUB_PARTNER, {"s3Bucket": "partner-exports", "s3Prefix": DEMO_PARTNER}, 400),
        (DEMO_PARTNER, {"s3Bucket": "wbr-reports", "s3Prefix": f"reports/{OTHER_PARTNER}/"}, 400),
        (DEMO_PARTNER, {"s3Bucket": "wbr-lake", "s3Prefix": "usage/"}, 400),
        (DEMO_PARTNER, {"s3Bucket": "partner-exports", "s3Prefix": "../reports"}, 400),
    ],
)
def test_a_schedule_never_aims_at_another_partners_tree_prefix_or_the_services_buckets(
    stack: SecurityStack, forge: Forge, caller_org: str, body: dict[str, Any], status: int
) -> None:
    before = footprint(stack, SCHEDULES)
    response = send(SCHEDULES, "create", f"Bearer {forge.tokens.mint(org_id=caller_org)}", "", body)
    assert_webex_error(response, status)
    assert footprint(stack, SCHEDULES) == before


def test_own_sub_partner_prefix_is_allowed(stack: SecurityStack, forge: Forge) -> None:
    """The control: a partner may name its own and its sub-partners' org ids in its prefix."""
    body = {"s3Bucket": "partner-exports", "s3Prefix": f"{DEMO_PARTNER}/{DEMO_SUB_PARTNER}/", "type": "USER"}
    response = send(SCHEDULES, "create", f"Bearer {forge.tokens.mint()}", "", body)
    assert response.status == 200, response.body
    stack.container.schedules.delete(Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({WRITE_SCOPE})), response.json()["id"])
