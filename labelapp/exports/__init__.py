"""Exports of a project's labels: Earmark JSON, Label Studio JSON, CSV, training manifests.

One module per format, each a generator that writes to a text stream chunk by chunk and
yields its progress; `jobs` runs them as ExportJob rows on a worker or straight to a file.
"""

from labelapp.exports.common import export_options_build
from labelapp.exports.filters import ExportFilters, export_filters_build
from labelapp.exports.jobs import (
    FORMATS,
    export_file_type,
    export_job_create,
    export_job_for_user,
    export_jobs_requeue_stale,
    export_jobs_resend_pending,
    export_run,
    export_storage_name,
    export_write,
)
from labelapp.exports.label_studio import label_studio_config

__all__ = [
    "FORMATS",
    "ExportFilters",
    "export_file_type",
    "export_filters_build",
    "export_job_create",
    "export_job_for_user",
    "export_jobs_requeue_stale",
    "export_jobs_resend_pending",
    "export_options_build",
    "export_run",
    "export_storage_name",
    "export_write",
    "label_studio_config",
]
