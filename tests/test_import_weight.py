"""The web side and the clip-processing task do not import torch.

torch costs a process ~540 MB and a second to import. Web processes (three gunicorn workers
in the compose stack) only ask for trainings and pre-labelings, count labels and read
cached features, and a worker child that processes audio for a project without a model
never runs one: neither should pay for it. Checked in a fresh interpreter, since this
test process has long imported torch.
"""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys, django
django.setup()
import labelapp.urls, labelapp.tasks, ml_backend.tasks, ml_backend.hooks
from labelapp.services import dashboard
from ml_backend import drift_service, dataset
from ml_backend.prelabel import prelabel_new_clips, prelabel_request, rank_request
from ml_backend.training import training_maybe_start, training_note, training_request
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
print(sorted(m for m in sys.modules if m.startswith("ml_backend.")))
"""


def test_the_web_and_the_processing_task_import_no_torch():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "labelapp.settings"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    torch_modules, ml_modules = out.stdout.strip().splitlines()
    assert torch_modules == "[]", torch_modules
    # the check saw the modules that would bring it in, had they imported it
    for name in ("ml_backend.prelabel", "ml_backend.training", "ml_backend.dataset"):
        assert repr(name) in ml_modules
