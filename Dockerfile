# One image, three entry points: web (gunicorn), worker and beat (celery).
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY labelapp labelapp
COPY ontology ontology
COPY ml_backend ml_backend
RUN pip install --no-cache-dir ".[s3]"
COPY . .
# The runtime settings before collectstatic: with DEBUG on no manifest of hashed names was
# written (every page was a 500 under DEBUG off), and under another var dir the files were
# not where the app serves them from. The key only signs nothing at build time.
ENV DEBUG=false MEDIA_ROOT=/data/media EARMARK_VAR_DIR=/data/var
RUN SECRET_KEY=collectstatic-at-build-time-only python manage.py collectstatic --noinput
RUN useradd --create-home earmark && mkdir -p /data/media && chown -R earmark /data /app
USER earmark
EXPOSE 8000
# Threads: a sync worker was killed by --timeout in the middle of a long upload (a 115 MB
# file at 800 KB/s: a 500 at 120 s); a threaded worker's timeout is only its heartbeat.
CMD ["gunicorn", "labelapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4", "--timeout", "120", "--access-logfile", "-"]
