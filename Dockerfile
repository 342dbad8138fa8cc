# syntax=docker/dockerfile:1
# Tierline: one image for web (gunicorn), worker and beat (celery) and the one-shot migrate job.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: resolve the locked runtime dependencies into /app/.venv ---------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

RUN pip install "uv==0.13.9"

WORKDIR /app
# Dependencies first, so code changes don't invalidate this layer.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# --- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH="/app/.venv/bin:${PATH}" \
    DJANGO_SETTINGS_MODULE=loyalty.settings \
    TIERLINE_MEDIA_ROOT=/app/var/media

RUN groupadd --system --gid 10001 tierline \
    && useradd --system --uid 10001 --gid tierline --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin tierline

WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY . .

# Static files are collected (and hashed/compressed by WhiteNoise's manifest storage, since
# DJANGO_DEBUG is off) and the translations compiled (Babel, no GNU gettext) at build time; the secret key
# here exists only for this step.
RUN pybabel compile --directory locale --domain django \
    && DJANGO_DEBUG=0 DJANGO_SECRET_KEY=build-only-collectstatic-key \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media \
    && chown -R tierline:tierline /app/var/media

USER 10001:10001

EXPOSE 8000

# gunicorn >= 27 would otherwise create a control socket under $HOME (/app, read-only to this user).
CMD ["gunicorn", "loyalty.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", \
     "--worker-tmp-dir", "/dev/shm", "--no-control-socket", "--access-logfile", "-", "--error-logfile", "-"]
