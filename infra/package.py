"""`make package`: the CloudFormation (SAM) template of the service (ARCHITECTURE.md §8 "Deploy").

    python infra/package.py --stage prod --asl out/asl.json out/

1. Writes ``out/merge-template.json``: ``infra/template.json`` completed with what the code says,
   so the two cannot drift apart:
   - the state machine ``Definition`` is the ASL that ``wbr asl`` printed (``--asl``), with one
     ``DefinitionSubstitutions`` entry per ``${<Step>FunctionArn}`` placeholder → ``GetAtt`` of
     the Chalice function of that step, and the state machine role may invoke exactly those;
   - the key schema, attributes and indexes of each table come from the adapter's
     ``table_definition()`` (named in the table's ``Metadata``);
   - every event handler the app registers is wired to the resource of this template: each SQS
     handler to the queue it names (``EventsQueue``, ``WebhookDeliveriesQueue``; with
     ``ReportBatchItemFailures``), each DynamoDB stream handler to the stream of the table it
     names (``UsageDaysTable``, ``ReportsTable``), an S3 handler to ``LakeBucket``'s
     notification configuration;
   - every Lambda gets ``FunctionName: <stack name>-<function>``, so its log group is covered by
     the ``/aws/lambda/<stack name>-*`` statement of the policies in ``infra/policies/``;
   - the API's gateway responses (401/403/default 4XX/5XX …) give the Webex error body, as
     ``chalicelib/api/gateway.py`` does locally.
2. Runs ``chalice package --stage <stage> --merge-template out/merge-template.json out/`` with one
   difference: Chalice's SAM generator refuses ``@app.on_s3_event`` (it cannot add a notification
   to a bucket that already exists). Here the bucket is created by the same template and its
   ``NotificationConfiguration`` carries the subscription, so that one resource is skipped
   instead of refused; and the code package leaves out the wings the deployed code never
   imports (`LEFT_OUT`: the CLI and the local stack).

``render_template()`` does the same without building the code package (no pip): the test
``tests/integration/test_package.py`` checks the template it returns.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
PROJECT = INFRA.parent
if str(INFRA) not in sys.path:  # run as a script or loaded from its file (the tests): its sibling
    sys.path.insert(0, str(INFRA))

from merge_template import merge_template  # noqa: E402

LEFT_OUT = ("chalicelib/cli/", "chalicelib/local/")


@contextlib.contextmanager
def _in_project() -> Iterator[None]:
    """Chalice reads `.chalice/` and `app.py` relative to the project and sets the stage's
    environment variables in `os.environ` while loading the app; both are undone afterwards
    (the tests render the template in the same process as other tests)."""
    previous_dir, previous_environ = os.getcwd(), dict(os.environ)
    os.chdir(PROJECT)
    if str(PROJECT) not in sys.path:
        sys.path.insert(0, str(PROJECT))
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        yield
    finally:
        os.chdir(previous_dir)
        os.environ.clear()
        os.environ.update(previous_environ)


def _factory() -> Any:
    from chalice.cli.factory import CLIFactory

    return CLIFactory(str(PROJECT), environ=os.environ)


# ---- chalice package ----------------------------------------------------------------------


@contextlib.contextmanager
def _s3_events_in_template(app: Any) -> Iterator[None]:
    """Let Chalice's SAM generator skip the S3 notifications that the merge template carries."""
    from chalice.app import S3EventConfig
    from chalice.package import SAMTemplateGenerator

    wired = {source.name for source in app.event_sources if isinstance(source, S3EventConfig)}
    original = SAMTemplateGenerator._generate_s3bucketnotification

    def generate(self: Any, resource: Any, template: dict[str, Any]) -> None:
        if resource.lambda_function.resource_name not in wired:
            original(self, resource, template)

    SAMTemplateGenerator._generate_s3bucketnotification = generate  # type: ignore[method-assign]
    try:
        yield
    finally:
        SAMTemplateGenerator._generate_s3bucketnotification = original  # type: ignore[method-assign]


@contextlib.contextmanager
def _wings_left_out() -> Iterator[None]:
    """Let Chalice's packager leave `LEFT_OUT` out of the code package (and of its hash)."""
    from chalice.deploy.packager import BaseLambdaDeploymentPackager

    original = BaseLambdaDeploymentPackager._iter_chalice_lib_if_needed

    def shipped(self: Any, project_dir: str) -> Iterator[tuple[str, str]]:
        for full_path, zip_path in original(self, project_dir):
            if not zip_path.replace(os.sep, "/").startswith(LEFT_OUT):
                yield full_path, zip_path

    BaseLambdaDeploymentPackager._iter_chalice_lib_if_needed = shipped  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseLambdaDeploymentPackager._iter_chalice_lib_if_needed = original  # type: ignore[method-assign]


def _write_merge_template(stage: str, asl: dict[str, Any], path: Path) -> Any:
    config = _factory().create_config_obj(stage)
    app = config.chalice_app
    path.parent.mkdir(parents=True, exist_ok=True)
    template = merge_template(app, asl, log_groups=config.log_retention_in_days is not None)
    path.write_text(json.dumps(template, indent=2) + "\n")
    return app


def package(stage: str, asl: dict[str, Any], out: Path) -> Path:
    """The real thing: code packages (pip, manylinux wheels) and out/sam.json."""
    from chalice.cli import main as chalice_main

    out = out.resolve()
    with _in_project():
        merge_path = out / "merge-template.json"
        app = _write_merge_template(stage, asl, merge_path)
        with _s3_events_in_template(app), _wings_left_out():
            argv = ["chalice", "--project-dir", str(PROJECT), "package", "--stage", stage]
            argv += ["--merge-template", str(merge_path), str(out)]
            previous, sys.argv = sys.argv, argv
            try:
                chalice_main()
            except SystemExit as exit_:
                if exit_.code not in (0, None):
                    raise
            finally:
                sys.argv = previous
    return out / "sam.json"


def render_template(stage: str = "prod", asl: dict[str, Any] | None = None) -> dict[str, Any]:
    """The same template without building the code packages (for tests: no pip, no network)."""
    from chalice.deploy.deployer import DeploymentPackager, ManagedLayerDeploymentPackager

    if asl is None:
        from chalicelib.runtime.workflow import to_asl

        asl = to_asl()
    with _in_project(), tempfile.TemporaryDirectory(prefix="wbr-package-") as scratch:
        work = Path(scratch)
        merge_path = work / "merge-template.json"
        factory = _factory()
        app = _write_merge_template(stage, asl, merge_path)
        config = factory.create_config_obj(stage)
        packager = factory.create_app_packager(
            config, factory.create_package_options(), "cloudformation", "json", str(merge_path)
        )
        stub = work / "stub.zip"
        stub.write_bytes(b"")

        def no_build(*_args: Any, **_kwargs: Any) -> str:
            return str(stub)

        for step in packager._resource_builder._build_stage._steps:  # noqa: SLF001 - pinned chalice
            if isinstance(step, DeploymentPackager):
                step._packager.create_deployment_package = no_build  # noqa: SLF001
            elif isinstance(step, ManagedLayerDeploymentPackager):
                step._lambda_packager.create_deployment_package = no_build  # noqa: SLF001
                step._layer_packager.create_deployment_package = no_build  # noqa: SLF001
        with _s3_events_in_template(app):
            packager.package_app(config, str(work / "out"), stage)
        return json.loads((work / "out" / "sam.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--asl", type=Path, required=True, help="the output of `wbr asl`")
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    asl = json.loads(args.asl.read_text())
    template = package(args.stage, asl, args.out)
    print(f"wrote {template}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
