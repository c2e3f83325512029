"""wholesale-billing-reports: the Chalice app. Wiring only; see chalicelib/ and DESIGN.md."""

from chalice import Chalice

from chalicelib.api.auth import auth_api
from chalicelib.api.docs import docs_api
from chalicelib.api.events import events_api
from chalicelib.api.reports import reports_api
from chalicelib.api.worker import worker_api

app = Chalice(app_name="wholesale-billing-reports")
app.register_blueprint(auth_api)
app.register_blueprint(reports_api)
app.register_blueprint(worker_api)
app.register_blueprint(events_api)
app.register_blueprint(docs_api)
