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
RUN DEBUG=true python manage.py collectstatic --noinput
RUN useradd --create-home earmark && mkdir -p /data/media && chown -R earmark /data /app
USER earmark
ENV DEBUG=false MEDIA_ROOT=/data/media EARMARK_VAR_DIR=/data/var
EXPOSE 8000
CMD ["gunicorn", "labelapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
