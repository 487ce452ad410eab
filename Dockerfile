# One image for every process of the production shape (docker-compose.yml): web (gunicorn), Celery worker,
# Celery beat and the one-shot migrate step. All configuration comes from the environment at run time.
FROM python:3.11-slim

# Every process of the image (gunicorn, celery, `python manage.py ...`) runs the production settings, which
# refuse to start on an unsafe environment; manage.py's own default (local) is for a laptop only.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

WORKDIR /app

# DejaVu Sans: the evidence pack's PDF summary shows names in every script (mca/export.py falls back to Latin-1).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core && rm -rf /var/lib/apt/lists/*

# Dependencies first, read from pyproject.toml's pinned list, so a code change does not reinstall them. The `s3`
# extra too: production keeps checkpoints in an S3 bucket with Object Lock by default (MCA_CHECKPOINT_STORAGE).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['s3']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself. Installed in place (editable) so BASE_DIR is /app and templates/ and manage.py are found.
COPY . .
RUN pip install --no-deps -e .

# Static files (the API docs' Swagger UI and ReDoc included) are collected into the image and served by
# WhiteNoise. Production settings refuse to load without a real environment, so this one step gets throwaway
# values: a random key, live mode with placeholder credentials (the apps installed exactly as in production), an
# in-memory broker and placeholder acceptance-log keys. None of them is kept in the image.
RUN SECRET_KEY="collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    PARTNER_CENTER_MODE=live \
    PARTNER_CENTER_TENANT_ID=collectstatic-only \
    PARTNER_CENTER_CLIENT_ID=collectstatic-only \
    PARTNER_CENTER_CLIENT_SECRET=collectstatic-only \
    CELERY_BROKER_URL=memory:// \
    MCA_CHECKPOINT_STORAGE=folder \
    MCA_LOG_HMAC_KEYS=collectstatic=Y29sbGVjdHN0YXRpYy1vbmx5LXRocm93YXdheS1rZXktMDAwMA== \
    MCA_LOG_HMAC_KEY_ID=collectstatic \
    MCA_CHECKPOINT_SIGNING_KEY=Y29sbGVjdHN0YXRpYy1vbmx5LXRocm93YXdheS1zZWU= \
    python manage.py collectstatic --no-input --verbosity 0

# The checkpoints volume mounts here; a new named volume takes this folder's owner, so the app user can write.
RUN mkdir -p /app/checkpoints && chown app:app /app/checkpoints

USER app

EXPOSE 8000
# Workers: gunicorn reads WEB_CONCURRENCY (default 1); compose sets it. A TLS-terminating proxy goes in front.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--timeout", "60"]
