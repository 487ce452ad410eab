# One image for every process of the production shape (docker-compose.yml): web (gunicorn), Celery worker,
# Celery beat and the one-shot migrate step. All configuration comes from the environment at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, read from pyproject.toml's pinned list, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project itself. Installed in place (editable) so BASE_DIR is /app and templates/ and manage.py are found.
COPY . .
RUN pip install --no-deps -e .

# Static files are collected into the image (served by WhiteNoise). Production settings refuse to load without
# a real SECRET_KEY, so this one step gets a throwaway random key and DEBUG off; neither is kept in the image.
RUN DEBUG=false \
    SECRET_KEY="collectstatic-only-$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    python manage.py collectstatic --no-input --verbosity 0

USER app

EXPOSE 8000
# Workers: gunicorn reads WEB_CONCURRENCY (default 1); compose sets it. A TLS-terminating proxy goes in front.
CMD ["gunicorn", "mca.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--timeout", "60"]
