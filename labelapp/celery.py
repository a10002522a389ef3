"""The Celery app: `celery -A labelapp worker` reads the same settings as the web server."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelapp.settings")
# Torch's OpenMP threads spin-wait by default; on a busy machine (web, worker and beat on two
# cores) that made training steps 10-20x slower. Set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = Celery("labelapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
