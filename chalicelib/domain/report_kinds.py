"""What kind of report a report is: its type (the row grain) and its Webex category (§3, §4a)."""

from __future__ import annotations

from enum import Enum


class ReportType(str, Enum):
    PARTNER = "PARTNER"
    CUSTOMER = "CUSTOMER"
    USER = "USER"


class ReportCategory(str, Enum):
    """Webex's report categories: a period's prorated usage, or a snapshot of allocations (§4a)."""

    RECONCILIATION = "RECONCILIATION"
    POINT_IN_TIME = "POINT_IN_TIME"


# The types a point-in-time report may have: allocations are counted per customer or per user.
POINT_IN_TIME_TYPES = (ReportType.CUSTOMER, ReportType.USER)
