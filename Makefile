# wholesale-billing-reports — the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The API explorer's assets (Swagger UI): the npm package swagger-ui-dist at an exact version,
# checked against its sha512 and vendored into chalicelib/ (git-ignored; `chalice package` ships it).
SWAGGER_UI_VERSION := 5.35.0
SWAGGER_UI_SHA512 := 534eaba4cb56f55dd73c638179a993512af4674f63317e0826e00da44fc465b021c341bc0a0c2bcd4e18997927fe1d3008336c5dd19aad334d1c2dec53cc9551
SWAGGER_UI_DIR := chalicelib/vendor/swagger-ui
SWAGGER_UI := $(SWAGGER_UI_DIR)/.swagger-ui-dist-$(SWAGGER_UI_VERSION)
SWAGGER_UI_FILES := swagger-ui.css swagger-ui-bundle.js favicon-32x32.png LICENSE NOTICE
# The reconciliation console (console/): Svelte + Chart.js from npm at exact versions, installed by
# `npm ci` from its lockfile (sha512 integrity of every package) and built by Vite into
# chalicelib/vendor/console/ (git-ignored; `chalice package` ships it; served at /console/).
CONSOLE_BUILD := chalicelib/vendor/console/.vite/manifest.json
CONSOLE_SOURCES := console/package.json console/package-lock.json console/vite.config.js console/index.html $(wildcard console/src/*.* console/src/*/*.*)
# make test-browser drives Debian's Chromium through its chromedriver (never a downloaded browser).
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: run test bench lint asl clean install test-browser browser-deps

install: $(STAMP) $(CONSOLE_BUILD)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(SWAGGER_UI) $(CONSOLE_BUILD)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<26.3"  # chalice 1.34 packages with pip < 26.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(SWAGGER_UI):
	@command -v npm >/dev/null 2>&1 || { echo "error: npm (Node.js) is needed to vendor swagger-ui-dist@$(SWAGGER_UI_VERSION), the API explorer's assets" >&2; exit 1; }
	rm -rf $(SWAGGER_UI_DIR) && mkdir -p $(SWAGGER_UI_DIR)/.download
	npm pack --loglevel=error --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) --pack-destination $(SWAGGER_UI_DIR)/.download >/dev/null
	$(PYTHON) -c 'import hashlib, sys; digest = hashlib.sha512(open(sys.argv[1], "rb").read()).hexdigest(); sys.exit(0 if digest == sys.argv[2] else "error: " + sys.argv[1] + " has sha512 " + digest + ", expected " + sys.argv[2])' \
		$(SWAGGER_UI_DIR)/.download/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz $(SWAGGER_UI_SHA512)
	tar -xzf $(SWAGGER_UI_DIR)/.download/swagger-ui-dist-$(SWAGGER_UI_VERSION).tgz -C $(SWAGGER_UI_DIR)/.download $(addprefix package/,$(SWAGGER_UI_FILES))
	mv $(addprefix $(SWAGGER_UI_DIR)/.download/package/,$(SWAGGER_UI_FILES)) $(SWAGGER_UI_DIR)/
	rm -rf $(SWAGGER_UI_DIR)/.download
	touch $@

$(CONSOLE_BUILD): $(CONSOLE_SOURCES)
	@command -v npm >/dev/null 2>&1 || { echo "error: npm (Node.js >= 20.19) is needed to build the console (console/)" >&2; exit 1; }
	cd console && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	touch $@

## run: the local stack (moto S3+DynamoDB, demo data, API on :8000); Ctrl-C stops it, its state is kept in .local/
run: $(STAMP) $(CONSOLE_BUILD)
	$(BIN)/wbr dev

## run-fresh: the local stack started over: the state kept in .local/ is deleted first (the demo is loaded again)
.PHONY: run-fresh
run-fresh: $(STAMP) $(CONSOLE_BUILD)
	$(BIN)/wbr dev --fresh

## test: the whole default suite (unit + integration + e2e); CI runs exactly this
test: $(STAMP)
	$(BIN)/python -m pytest -n auto

## test-deep: the fault matrices and the full fuzz / property examples left out of `make test` (tests/tiers.py); CI runs it
.PHONY: test-deep
test-deep: $(STAMP)
	WBR_DEEP=1 $(BIN)/python -m pytest -n auto -m "deep or tiered" -o addopts="-q --strict-markers"

## test-live: event paths over real processes (wbr dev + CLI processes + kill -9; not part of `make test`)
.PHONY: test-live
test-live: $(STAMP)
	$(BIN)/python -m pytest -m live -o addopts="-q -s" tests/live

## test-browser: the API explorer and the console driven in headless Chromium (not part of `make test`)
test-browser: $(STAMP) $(CONSOLE_BUILD) browser-deps
	$(BIN)/python -m pytest -m browser -o addopts="-q" tests/browser

browser-deps:
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium and chromium-driver …"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
		else \
			echo "error: make test-browser needs $(CHROMIUM) and $(CHROMEDRIVER): run 'sudo apt-get install chromium chromium-driver' (Debian)" >&2; \
			exit 1; \
		fi; \
	fi

## bench: benchmarks (not part of `make test`)
bench: $(STAMP)
	$(BIN)/python -m pytest -m bench -o addopts="" -q -s tests/bench

.PHONY: fuzz
## fuzz: the schemathesis run of tests/security with many more examples (WBR_FUZZ_EXAMPLES per operation)
fuzz: $(STAMP)
	WBR_FUZZ_EXAMPLES=$${WBR_FUZZ_EXAMPLES:-5000} $(BIN)/python -m pytest -o addopts="-q" tests/security/test_schemathesis.py

lint: $(STAMP)
	$(BIN)/ruff check chalicelib tests app.py
	$(BIN)/mypy

asl: $(STAMP)
	$(BIN)/wbr asl

## package: out/sam.json, the CloudFormation (SAM) template, and its code packages (docs/DEPLOY.md)
PACKAGE_STAGE ?= prod
.PHONY: package lint-template
package: $(STAMP) $(CONSOLE_BUILD)
	rm -rf out && mkdir -p out
	$(BIN)/wbr asl > out/asl.json
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/python infra/package.py --stage $(PACKAGE_STAGE) --asl out/asl.json out

## lint-template: cfn-lint on out/sam.json (CI requires zero errors)
lint-template: $(STAMP)
	@test -f out/sam.json || { echo "error: out/sam.json is missing; run make package first" >&2; exit 1; }
	$(BIN)/cfn-lint out/sam.json

clean:
	rm -rf $(VENV) .local .pytest_cache .hypothesis console/node_modules chalicelib/vendor/console
