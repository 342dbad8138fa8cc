# Two commands do everything: `make demo` runs the product, `make test` runs the suite.
PYTHON ?= python3
PORT ?= 8000
VENV := .venv
UV := .tools/bin/uv
RUN := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install messages compilemessages demo test test-scaleout lint format bench clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==0.13.9"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

# Translations (locale/<language>/LC_MESSAGES/django.po, in git) compiled to .mo files (git-ignored) with Babel,
# so that no GNU gettext is needed to run the product; `make messages` (which does need xgettext) re-extracts.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
compilemessages: $(MO_FILES)
$(MO_FILES): %.mo: %.po | $(VENV)/.synced
	$(VENV)/bin/pybabel compile --input-file $< --output-file $@

messages: install
	DJANGO_DEBUG=1 $(RUN) manage.py makemessages -l es --ignore=.venv --ignore=.tools --ignore=tests --ignore=bench

# The embedded default: SQLite, tasks in-process, a seeded demo; no services needed. Two-factor sign-in is
# optional in the demo (TIERLINE_MFA_REQUIRED=0) so every printed login works with its password alone.
# The demo runs as the product does (debug off: a plain 404 page, no URL listing), over plain http, with a key
# made for this run; its emails go to var/mail/ and the members' notification centres, and the "ready" banner
# is the last thing printed (docs/demo.md).
DEMO_SECRET = $(shell $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))")
DEMO := env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL DJANGO_DEBUG=0 DJANGO_SECRET_KEY=$(DEMO_SECRET) \
	TIERLINE_HTTPS=0 TIERLINE_STATIC_MANIFEST=0 TIERLINE_WEBHOOKS_ALLOW_HTTP=1 TIERLINE_WEBHOOKS_ALLOW_PRIVATE=1 \
	DJANGO_EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend DJANGO_EMAIL_FILE_PATH=var/mail \
	DJANGO_RUNSERVER_HIDE_WARNING=true TIERLINE_MFA_REQUIRED=0 TIERLINE_PUBLIC_PORT=$(PORT) $(RUN)
demo: install compilemessages
	@$(DEMO) manage.py migrate --noinput --verbosity 0
	@$(DEMO) manage.py seed_demo --no-banner
	@$(DEMO) manage.py demo_serve 127.0.0.1:$(PORT)

# The whole suite; uses DATABASE_URL and REDIS_URL when set, SQLite and in-process tasks otherwise.
test: install compilemessages
	$(RUN) -m pytest $(PYTEST_ARGS)

# The scale-out parts (docs/scaling.md), run by CI after `make test` once `.ci/scaleout-services` has started them:
# the read replica's tests, and the row-level security and tenancy tests through PgBouncer (transaction pooling),
# in one session. DATABASE_OWNER_URL comes from the environment, as for `make test`.
SCALEOUT_DB ?= tierline
test-scaleout: install compilemessages
	DATABASE_URL=postgres://tierline_app@127.0.0.1:6432/$(SCALEOUT_DB) DATABASE_TRANSACTION_POOLING=1 \
	DATABASE_DIRECT_URL=postgres://tierline_app@127.0.0.1:5432/$(SCALEOUT_DB) \
	DATABASE_REPLICA_URL=postgres://tierline_app@127.0.0.1:5433/$(SCALEOUT_DB) \
	$(RUN) -m pytest tests/scaleout tests/tenancy $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DJANGO_DEBUG=1 $(RUN) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every benchmark (bench/README.md), each on its own scratch PostgreSQL database that it drops and recreates;
# one "name value" line per figure, kept in $(BENCH_OUT)/<name>.txt, then issue 24's table of every budgeted figure
# (bench/table.py). The evaluations run as the application role, under row-level security, at 10k × 20 and at the
# budget's 100k × 50 (BENCH_BIG_PARTNERS, BENCH_BIG_ACTIVITIES); the 1 M-partner run is `make bench-1m` (minutes).
# The portal, load and redemption benchmarks use Redis as deployed (docker-compose.yml): without a shared cache
# each gunicorn worker caches alone and the tenancy and member caches are off (bench/README.md, "third pass").
BENCH_SERVER ?= 127.0.0.1:5432
BENCH_DB ?= postgres://postgres@$(BENCH_SERVER)/tierline_bench
BENCH_APP_ROLE ?= tierline_app
BENCH_PARTNERS ?= 10000
BENCH_ACTIVITIES ?= 20
BENCH_BIG_PARTNERS ?= 100000
BENCH_BIG_ACTIVITIES ?= 50
BENCH_INGEST ?= 20000
BENCH_REDIS ?= redis://127.0.0.1:6379/5
BENCH_OUT ?= var/bench
BENCH := DJANGO_SETTINGS_MODULE=loyalty.settings $(RUN)
# `$(call bench_as_app,<database suffix>)`: the application role connects, the owner (superuser) builds and drops.
bench_as_app = DATABASE_URL=postgres://$(BENCH_APP_ROLE)@$(BENCH_SERVER)/tierline_bench$(1) \
	DATABASE_OWNER_URL=postgres://postgres@$(BENCH_SERVER)/tierline_bench$(1)
.PHONY: bench-1m
bench bench-1m: SHELL := /bin/bash
bench: install
	@mkdir -p $(BENCH_OUT)
	set -o pipefail; $(call bench_as_app,) $(BENCH) bench/evaluation.py --partners $(BENCH_PARTNERS) \
		--activities-per-partner $(BENCH_ACTIVITIES) | tee $(BENCH_OUT)/evaluation_10k.txt
	set -o pipefail; $(call bench_as_app,_big) $(BENCH) bench/evaluation.py --partners $(BENCH_BIG_PARTNERS) \
		--activities-per-partner $(BENCH_BIG_ACTIVITIES) | tee $(BENCH_OUT)/evaluation_100k.txt
	set -o pipefail; DATABASE_URL=$(BENCH_DB)_portal REDIS_URL=$(BENCH_REDIS) $(BENCH) bench/portal.py --entries 10000 \
		--requests 60 | tee $(BENCH_OUT)/portal.txt
	set -o pipefail; DATABASE_URL=$(BENCH_DB)_ingest $(BENCH) bench/ingest.py --partners 1000 --activities $(BENCH_INGEST) \
		| tee $(BENCH_OUT)/ingest.txt
	set -o pipefail; DATABASE_URL=$(BENCH_DB)_api $(BENCH) bench/api_ingest.py --partners 1000 --activities $(BENCH_INGEST) \
		| tee $(BENCH_OUT)/api_ingest.txt
	set -o pipefail; DATABASE_URL=$(BENCH_DB)_load REDIS_URL=$(BENCH_REDIS) $(BENCH) bench/load.py --partners 1000 --rate 100 --seconds 45 \
		| tee $(BENCH_OUT)/load.txt
	set -o pipefail; DATABASE_URL=$(BENCH_DB)_redeem REDIS_URL=$(BENCH_REDIS) $(BENCH) bench/redemption.py --clients 50 \
		--rate 50 --seconds 30 | tee $(BENCH_OUT)/redemption.txt
	set -o pipefail; DATABASE_URL=$(BENCH_DB)_scale REDIS_URL=$(BENCH_REDIS) $(BENCH) bench/scaling.py \
		--sizes 2000,10000,20000 | tee $(BENCH_OUT)/scaling.txt
	DATABASE_URL=$(BENCH_DB)_fuzz $(BENCH) bench/schemathesis_live.py
	DATABASE_URL=$(BENCH_DB)_analytics $(BENCH) bench/analytics.py --partners $(BENCH_PARTNERS) \
		--activities-per-partner $(BENCH_ACTIVITIES)
	@$(RUN) bench/table.py $(BENCH_OUT)

# The issue's 1 M partners × 20 activities, as the application role (generation alone takes several minutes).
bench-1m: install
	@mkdir -p $(BENCH_OUT)
	set -o pipefail; $(call bench_as_app,_1m) $(BENCH) bench/evaluation.py --partners 1000000 \
		--activities-per-partner 20 | tee $(BENCH_OUT)/evaluation_1m.txt
	@$(RUN) bench/table.py $(BENCH_OUT)

clean:
	rm -rf $(VENV) .tools db.sqlite3 var/
