"""wholesale-billing-reports: the Chalice app. Wiring only; see chalicelib/ and docs/ARCHITECTURE.md."""

from chalice import Chalice

from chalicelib.api.auth import auth_api
from chalicelib.api.console import console_api
from chalicelib.api.docs import docs_api
from chalicelib.api.events import events_api
from chalicelib.api.reports import reports_api
from chalicelib.api.schedules import schedules_api
from chalicelib.api.sub_partners import sub_partners_api
from chalicelib.api.usage import usage_api
from chalicelib.api.webhooks import webhooks_api
from chalicelib.api.worker import worker_api

# The app's logger is the Powertools one (same name: chalicelib/runtime/observability.py). Chalice must not
# configure it: it would when that logger's handler is not on the sys.stdout of import time (after
# `wbr`'s log_to_stderr, or under a test's capsys), setting it to ERROR and adding a plain handler.
app = Chalice(app_name="wholesale-billing-reports", configure_logs=False)
app.register_blueprint(auth_api)
app.register_blueprint(reports_api)
app.register_blueprint(sub_partners_api)
app.register_blueprint(webhooks_api)
app.register_blueprint(usage_api)
app.register_blueprint(schedules_api)
app.register_blueprint(worker_api)
app.register_blueprint(events_api)
app.register_blueprint(docs_api)
app.register_blueprint(console_api)
