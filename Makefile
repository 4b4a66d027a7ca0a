.PHONY: run test lint typecheck format setup bench soak lock

run:    ## virtualenv, migrate SQLite, seed the demo, serve on 127.0.0.1:8000
	bin/run

test:   ## the whole suite (SQLite, or PostgreSQL when DATABASE_URL is set)
	bin/test

setup:  ## the virtualenv in .venv, exactly as requirements.lock says
	bin/setup

lock:   ## bring requirements.lock in line with pyproject.toml, with hashes (LOCK_ARGS=--upgrade: newest allowed)
	bin/setup
	.venv/bin/pip-compile --quiet $(LOCK_ARGS) --extra dev --generate-hashes --strip-extras --allow-unsafe \
	    --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

bench:  ## ~15 min (BENCH_QUICK=1: ~2): the photo list, ours vs none, plain Django, stock DOT and DOT+guardian, as deployed under RLS; cold, revocations, albums, the OAuth endpoints vs stock DOT, profile
	bin/bench

soak:   ## ~2 min of mixed load from two tenants on gunicorn + PostgreSQL + Redis (loopback; not in CI); SOAK_STORAGE=s3: images in a bucket (moto)
	bin/setup
	.venv/bin/python -m soak

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:  ## mypy with the Django and DRF plugins over accounts, scopes, api, photos and project (pyproject.toml)
	SECRET_KEY=$${SECRET_KEY:-typecheck-only-not-a-secret} \
	AUDIT_SECRET_KEY=$${AUDIT_SECRET_KEY:-typecheck-only-not-a-secret-0123456789} .venv/bin/mypy

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
