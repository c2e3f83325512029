"""The parts of the container that only a machine without AWS needs, given to it as overrides.

The container (chalicelib/bootstrap.py) builds what the deployed service runs; it never builds
the local Step Functions interpreter or the local event sources, which live here, outside the
Lambda package. `wbr dev` and the tests pass them in: ``Container(settings, **local_parts())``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.local.events import reports_stream_of, usage_days_stream_of
from chalicelib.local.step_functions import local_workflow


def local_parts(**given: Any) -> dict[str, Any]:
    """The container's overrides for local mode, each a factory that takes the container:
    `workflow` (the in-process state machine), `usage_days_stream` and `reports_stream` (the
    streams and the deliveries queue, delivered by hand by tests and tools). A part in `given`
    (not None) is used instead: ``local_parts(workflow=HeldWorkflow())``."""
    parts: dict[str, Any] = {
        "workflow": local_workflow,
        "usage_days_stream": usage_days_stream_of,
        "reports_stream": reports_stream_of,
    }
    unknown = set(given) - set(parts)
    if unknown:
        raise TypeError(f"local_parts: no local part {sorted(unknown)}")
    parts.update({name: part for name, part in given.items() if part is not None})
    return parts
