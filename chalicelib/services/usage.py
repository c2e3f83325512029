"""The console's read API (DESIGN §12): usage totals of a period, a monthly series, explain, and
availability, from the per-day rollup that rating keeps beside the lake.

Tenancy is the reports': the caller's tree, or one sub-partner's subtree (a foreign one
is a 403, as on create), internal customers only with `internal=true`; a customer outside the
caller's tree is the same 404 as an unknown one. Nothing here reads the lake's usage rows: whole
calendar months come from the rollup's month sums (kept per set of day versions), the other days
from the day rollups. A customer's users and explain walk the customer's keys through the period
(`domain.usage_view.key_units`): the keys assigned at its start from the closing state of the day
before (the one state partition that holds the customer), then each day's touched keys (their
events and the units rating gave them) from the rollup.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from chalicelib.domain.access import Caller
from chalicelib.domain.errors import InvalidRequest, NotFound
from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.messages import DayPublished
from chalicelib.domain.months import closed_month, days_between
from chalicelib.domain.proration import epoch_day, format_quantity
from chalicelib.domain.usage_queries import ExplainQuery, GroupBy, Scope, SeriesQuery, UsageQuery, reject_unknown
from chalicelib.domain.usage_view import (
    customer_totals,
    page,
    per_day_units,
    quantity_and_seats,
    sku_totals,
    subject_key,
    user_rows,
)
from chalicelib.services.usage_reads import (
    SUBJECT_NOT_FOUND,
    UsagePage,
    UsageReads,
    iso_instant,
    iso_seconds,
)

RESTATEMENTS_LISTED = 20
AVAILABILITY_DAYS = 400  # how far back availability looks for restatements


class UsageService(UsageReads):
    """GET /usage, /usage/series, /usage/explain and /usage/availability."""

    # ---- GET /usage ---------------------------------------------------------------------

    def totals(self, caller: Caller, params: Mapping[str, str]) -> UsagePage:
        caller.require_read()
        query = UsageQuery.from_params(params, self._today())
        days = days_between(query.start, query.end)
        context, view = self._read(caller, query.scope, [*days, query.start - timedelta(days=1)])
        publications = view.of(days)
        versions = {day: version for day, (version, _, _) in publications.items()}
        customer = query.scope.customer_org_id
        if query.group_by is GroupBy.USER:
            assert customer is not None
            owner = self._owner(context, customer, versions)
            by_key = self._key_units(query.start, query.end, view, owner, customer)[0]
            users = user_rows(by_key) if customer not in context.excluded else []
            units = sum(row[-1] for row in users)
            totals = self._totals_json(units, query.day_count, 1 if units else 0, len({row[3:7] for row in users}))
            items: list[dict[str, Any]] = [
                {
                    **({"userId": user_id} if subject_type == "USER" else {"workspaceId": workspace_id}),
                    "subjectType": subject_type,
                    "subscriberId": subscriber_id,
                    "customerOrgId": customer,
                    "locationId": location,
                    "subscriptionId": subscription,
                    "sku": sku,
                    **quantity_and_seats(row_units, query.day_count),
                }
                for location, subscription, sku, subject_type, user_id, subscriber_id, workspace_id, row_units in users
            ]
        else:
            if customer is not None:
                self._owner(context, customer, versions)  # 404 unless the caller's
            tables = self._period(query.start, query.end, versions, context.org_ids)
            only = None if customer is None else {customer}
            by_sku = query.group_by is GroupBy.SKU
            rows = tables.rows(
                context.excluded, only, ("subscription_id", "sku") if by_sku else ("customer_org_id", "sku")
            )
            units = sum(row[-1] for row in rows)
            totals = self._totals_json(
                units,
                query.day_count,
                tables.customer_count(context.excluded, only),
                tables.subject_count(context.excluded, only),
            )
            if by_sku:
                items = [
                    {
                        "subscriptionId": total.subscription_id,
                        "sku": total.sku,
                        **self._sku_names(context, total.sku),
                        **quantity_and_seats(total.units, query.day_count),
                    }
                    for total in sku_totals(rows)
                ]
            else:
                items = [
                    {
                        **self._customer_names(context, total.customer_org_id),
                        **quantity_and_seats(total.units, query.day_count),
                        "skus": [{"sku": sku, "quantity": format_quantity(units)} for sku, units in total.skus],
                    }
                    for total in customer_totals(rows)
                ]
        shown, more = page(items, query.offset, query.max_items)
        body = {
            "billingStartDate": query.start.isoformat(),
            "billingEndDate": query.end.isoformat(),
            "days": query.day_count,
            "groupBy": query.group_by.value,
            **self._freshness(days, view),
            "totals": totals,
            "items": shown,
        }
        return UsagePage(body, query.next_page_params() if more else None)

    # ---- GET /usage/series --------------------------------------------------------------

    def series(self, caller: Caller, params: Mapping[str, str]) -> dict[str, Any]:
        caller.require_read()
        query = SeriesQuery.from_params(params, self._today())
        months = query.month_list()
        context, view = self._read(caller, query.scope, [day for month in months for day in month.days()])
        versions = view.versions
        customer = query.scope.customer_org_id
        if customer is not None:
            self._owner(context, customer, versions)
        only = None if customer is None else {customer}
        by_key: dict[tuple[str, ...], dict[str, Any]] = {}
        units_of: dict[tuple[str, ...], list[int]] = {}
        for index, month in enumerate(months):
            month_versions = {day: versions[day] for day in month.days() if day in versions}
            by = ("subscription_id", "sku") if query.group_by is GroupBy.SKU else ("customer_org_id", "sku")
            rows = self._rollups.month(str(month), month_versions, context.org_ids).rows(context.excluded, only, by)
            keyed: list[tuple[tuple[str, ...], dict[str, Any], int]]
            if query.group_by is GroupBy.SKU:
                keyed = [
                    (
                        (total.subscription_id, total.sku),
                        {
                            "subscriptionId": total.subscription_id,
                            "sku": total.sku,
                            **self._sku_names(context, total.sku),
                        },
                        total.units,
                    )
                    for total in sku_totals(rows)
                ]
            else:
                keyed = [
                    ((total.customer_org_id,), self._customer_names(context, total.customer_org_id), total.units)
                    for total in customer_totals(rows)
                ]
            for key, names, units in keyed:
                by_key.setdefault(key, names)
                units_of.setdefault(key, [0] * len(months))[index] = units
        series = [
            {
                "key": by_key[key],
                "quantities": [format_quantity(units) for units in units_of[key]],
                "seatEquivalents": [
                    quantity_and_seats(units, month.day_count)["seatEquivalents"]
                    for units, month in zip(units_of[key], months, strict=True)
                ],
            }
            for key in sorted(by_key)
        ]
        return {
            "months": [str(month) for month in months],
            "groupBy": query.group_by.value,
            **self._freshness([day for month in months for day in month.days()], view),
            "series": series,
        }

    # ---- GET /usage/explain -------------------------------------------------------------

    def explain(self, caller: Caller, params: Mapping[str, str]) -> dict[str, Any]:
        caller.require_read()
        query = ExplainQuery.from_params(params, self._today())
        days = days_between(query.start, query.end)
        context, view = self._read(caller, Scope(internal=True), [*days, query.start - timedelta(days=1)])
        versions = {day: version for day, (version, _, _) in view.of(days).items()}
        customer = query.customer_org_id or self._customer_of_subject(query, versions, context)
        owner = self._owner(context, customer, versions)
        units, history = self._key_units(query.start, query.end, view, owner, customer)
        keys = [
            subject_key(key, days)
            for key, days in sorted(units.items())
            if query.subject.matches(key[5], key[6], key[8])
            and key[4] == query.sku
            and (query.location_id is None or key[2] == query.location_id)
            and (query.subscription_id is None or key[3] == query.subscription_id)
            and sum(days.values()) > 0
        ]
        if not keys:
            raise NotFound(SUBJECT_NOT_FOUND)
        if len(keys) > 1:
            choices = [f"locationId={key.location_id}, subscriptionId={key.subscription_id}" for key in keys]
            raise InvalidRequest(
                "The subject has this SKU at more than one location or subscription; name one",
                [f"locationId/subscriptionId: one of {'; '.join(choices)}"],
            )
        key = keys[0]
        units_by_day = dict(key.units_by_day)
        full_key = tuple(getattr(key, name) for name in KEY_FIELDS)
        events = sorted(
            event for touched in history.touched.values() if full_key in touched for event in touched[full_key].events
        )
        open_since = history.open_at_start.get(full_key)
        if open_since is not None:  # its assignment, before the period: that day's events of the key
            since_day = epoch_day(open_since)
            published = self._calendar.view([since_day]).publications.get(since_day)
            if published is not None:
                before = self._lake.customer_history({since_day: published[0]}, None, owner, customer)
                found = before.touched.get(since_day, {}).get(full_key)
                events = sorted({*(e for e in (found.events if found else ()) if e[0] <= open_since), *events})
        subject = {"type": query.subject.subject_type}
        if query.subject.subject_type == "USER":
            subject |= {"userId": key.user_id, "subscriberId": key.subscriber_id}
        else:
            subject |= {"workspaceId": key.workspace_id}
        return {
            "billingStartDate": query.start.isoformat(),
            "billingEndDate": query.end.isoformat(),
            "subject": subject,
            "sku": key.sku,
            **self._sku_names(context, key.sku),
            "customerOrgId": customer,
            **{
                name: value
                for name, value in self._customer_names(context, customer).items()
                if name != "customerOrgId"
            },
            "locationId": key.location_id,
            "subscriptionId": key.subscription_id,
            "assignedBeforePeriod": iso_seconds(open_since) if open_since is not None else None,
            "events": [
                {"eventId": event_id, "eventType": event_type, "occurredAt": iso_seconds(occurred_at)}
                for occurred_at, event_id, event_type in events
            ],
            "days": per_day_units(units_by_day.items()),
            "quantity": format_quantity(sum(units_by_day.values())),
        }

    # ---- a month closes: its sums made before anyone asks -------------------------------

    def on_day_published(self, message: DayPublished) -> list[str]:
        """A month's last day published (its first rating, or a restatement pass, which
        republishes every day after the one it starts from): make and keep the month's sums of
        every partner org now, from the month's published day versions, so the month view's
        first request reads them instead of building them (a month sum is kept per set of day
        versions: a restated month gets new ones). The orgs whose month it kept. A failure is
        logged and dropped: the sums are only kept work, the next request builds them."""
        month = closed_month(message.day)
        if month is None:
            return []
        try:
            versions = self._calendar.view(month.days()).versions
            orgs = sorted(partner.org_id for partner in self._directory.at(self._directory.pin()).partners())
            if orgs and versions:
                self._rollups.month(str(month), versions, orgs)
            return orgs
        except Exception as error:  # noqa: BLE001 - a cache: never hold the usage_days stream up
            self._logger.warning("month sums not kept", extra={"month": str(month), "error": repr(error)})
            return []

    # ---- GET /usage/availability ----------------------------------------------------------

    def availability(self, caller: Caller, params: Mapping[str, str]) -> dict[str, Any]:
        caller.require_read()
        reject_unknown(params)
        today = self._today()
        view = self._calendar.view(days_between(today - timedelta(days=AVAILABILITY_DAYS), today))
        latest, epoch, recent = view.latest_published_day, view.data_epoch, view.publications
        restated = sorted(
            ((published_at or "", day, version) for day, (version, _, published_at) in recent.items() if version > 1),
            reverse=True,
        )
        changed = [published_at for _, _, published_at in recent.values() if published_at]
        return {
            "publishedThrough": latest.isoformat() if latest else None,
            "dataEpoch": epoch.isoformat() if epoch else None,
            "restatements": [
                {"day": day.isoformat(), "version": version, "publishedAt": iso_instant(published_at)}
                for published_at, day, version in restated[:RESTATEMENTS_LISTED]
            ],
            "lastChanged": iso_instant(max(changed)) if changed else None,
        }
