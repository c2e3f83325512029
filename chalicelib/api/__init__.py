"""Entry points: Chalice blueprints (HTTP routes, the authorizer, worker Lambdas)."""
