"""What happens when: one handler map for the events that move numbers (ARCHITECTURE.md §6).

Every entry point that receives such an event (the `usage_days` stream handler on AWS, the same
handler called by `wbr dev` locally, tests) hands the typed message to `MessageBus.handle`; no
other code decides what a publication or a restatement request sets in motion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalicelib.domain.messages import DayPublished, Message, RestatementRequested
from chalicelib.services.rating import RatingService
from chalicelib.services.regeneration import RegenerationService
from chalicelib.services.schedules import ScheduleService
from chalicelib.services.usage import UsageService

Handler = Callable[[Any], object]


def event_handlers(
    rating: RatingService, regeneration: RegenerationService, schedules: ScheduleService, usage: UsageService
) -> dict[type, list[Handler]]:
    """The handler map (cosmicpython's EVENT_HANDLERS):
    - a day published (or restated) starts the reports waiting for it and regenerates the
      COMPLETED reports it changed; a month's last day makes each schedule's report of the
      month (once: a republication finds it made, and its regeneration is the one above), and
      the read API keeps the month's sums of every partner org;
    - a restatement request re-rates a bounded run of days from the marker; each publication it
      makes is a `DayPublished` of its own, and a marker moved on is a new request."""
    return {
        DayPublished: [regeneration.on_day_published, schedules.on_day_published, usage.on_day_published],
        RestatementRequested: [lambda message: rating.restate_pending()],
    }


class MessageBus:
    def __init__(self, handlers: Mapping[type, Sequence[Handler]]) -> None:
        self._handlers = handlers

    def handle(self, message: Message) -> list[object]:
        """Run every handler of the message's type, in order; an error propagates (the event
        source retries the batch, and every handler is idempotent)."""
        return [handler(message) for handler in self._handlers.get(type(message), [])]
