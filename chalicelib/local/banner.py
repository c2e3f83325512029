"""`wbr dev`'s banner: the last lines it prints before it serves requests (where the API, the
explorer, the console, the local AWS, the state and the logs are; the env file's exports; the
partners a token can be minted for; and, with the demo, requests to try)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.local.env_file import ENV_FILE_KEYS, PROJECT_DIR

if TYPE_CHECKING:
    from chalicelib.domain.report_rows import Partner


def banner(
    values: Mapping[str, str],
    path: Path,
    demo: bool,
    partners: Sequence[Partner] = (),
    log_path: Path | None = None,
    live_logs: bool = False,
) -> str:
    from chalicelib.local.demo import DEMO_PARTNER

    base = values["WBR_BASE_URL"] + "/v1/wholesale/billing/reports"
    source = path.relative_to(PROJECT_DIR) if path.is_relative_to(PROJECT_DIR) else path
    lines = [
        "",
        "wholesale-billing-reports is running (Ctrl-C stops it)",
        f"  API         {values['WBR_BASE_URL']}",
        f"  explorer    {values['WBR_BASE_URL']}/v1/wholesale/billing/docs   (Swagger UI)",
        *(
            # The token travels in the fragment: the browser never sends it to a server or a log.
            [
                f"  console     {values['WBR_BASE_URL']}/console/#access_token={values['WBR_TOKEN']}   (signed in as the demo partner's admin)"
            ]
            if values.get("WBR_TOKEN")
            else [f"  console     {values['WBR_BASE_URL']}/console/"]
        ),
        f"  local AWS   {values['AWS_ENDPOINT_URL']}",
        f"  state       {values.get('WBR_STATE_DIR', '')}   (kept across restarts; wbr dev --fresh starts over)",
        f"  env file    {path}   (source it: . {source})",
        f"  start page  {values['WBR_BASE_URL']}/   (the console, the explorer, the OpenAPI document)",
        f"  CLI         {PROJECT_DIR / '.venv' / 'bin' / 'wbr'}   (. .venv/bin/activate puts wbr on PATH)",
    ]
    if log_path is not None:
        shown = "shown here too" if live_logs else "wbr dev --logs or WBR_LOGS=1 shows them here too"
        lines.append(f"  logs        {log_path}   ({shown})")
    lines += [""]
    for name in ENV_FILE_KEYS:
        if values.get(name):
            lines.append(f"export {name}={shlex.quote(values[name])}")
    if partners:
        by_id = {partner.org_id: partner for partner in partners}
        width = max(len(partner.name) for partner in partners) + 2
        lines += ["", "Partners (a token for any of them: wbr token --org <org id or name>):"]
        for partner in partners:
            depth, parent = 0, by_id.get(partner.parent_org_id or "")
            while parent is not None and depth < 8:
                depth, parent = depth + 1, by_id.get(parent.parent_org_id or "")
            role = f"sub-partner of {by_id[partner.parent_org_id].name}" if partner.parent_org_id in by_id else ""
            if partner.org_id == DEMO_PARTNER and values.get("WBR_TOKEN"):
                role = "WBR_TOKEN is its admin's token"
            indent = "  " * (depth + 1)
            lines.append(f"{indent}{partner.name:<{width - 2 * depth}} {partner.org_id}  {role}".rstrip())
    if demo:
        yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
        start = yesterday.replace(day=1) if yesterday.day > 1 else yesterday
        lines += [
            "",
            f"Try it (in another shell: . {source}):",
            f"  curl -s -X POST {base} -H \"Authorization: Bearer $WBR_TOKEN\" -H 'Content-Type: application/json' \\",
            f'       -d \'{{"billingStartDate": "{start}", "billingEndDate": "{yesterday}", "type": "USER"}}\'',
            f'  curl -s {base} -H "Authorization: Bearer $WBR_TOKEN"',
            f'  curl -s {base}/<id> -H "Authorization: Bearer $WBR_TOKEN"        # tempDownloadURL once COMPLETED',
            '  curl -s -o report.csv "<tempDownloadURL>"',
            f'  curl -s -X DELETE {base}/<id> -H "Authorization: Bearer $WBR_TOKEN"',
            '  .venv/bin/wbr token --org "Globex Telecom" --scopes spark-admin:wholesale_billing_reports_read',
        ]
    return "\n".join(lines)
