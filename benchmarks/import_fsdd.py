"""Import the 2,500 FSDD clips through the real import path (CLI command, real worker) and
print clips per second and peak memory. Target: all 2,500 imported and processed in < 30 s.

    .venv/bin/python benchmarks/import_fsdd.py [--limit N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import time

from _stack import Worker, setup, wait_all_processed

TARGET_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="import only N clips")
    args = parser.parse_args()
    setup("fsdd")
    from django.conf import settings
    from django.core.management import call_command

    from labelapp.models import Clip
    from labelapp.services.projects import project_create

    recordings = settings.EARMARK_FSDD_DIR / "recordings"
    if not recordings.is_dir():
        raise SystemExit(f"FSDD not found at {recordings}")
    files = sorted(recordings.glob("*.wav"))
    if args.limit:
        files = files[: args.limit]
    project = project_create(name="fsdd-bench")
    with Worker(concurrency=2) as worker:
        started = time.monotonic()
        out = io.StringIO()
        with contextlib.suppress(SystemExit):  # exit 1 when a file is rejected: reported below
            call_command("import_audio", project.name, *map(str, files), stdout=out)
        imported_s = time.monotonic() - started
        wait_all_processed(project.pk, len(files), timeout=600)
        total_s = time.monotonic() - started
    ready = Clip.objects.filter(project=project, status="ready").count()
    importer_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(out.getvalue().strip().splitlines()[-1])
    print(f"clips: {len(files)} ({ready} ready)")
    print(
        f"import (hash, probe, store, rows): {imported_s:.1f} s = "
        f"{len(files) / imported_s:.0f} clips/s"
    )
    print(
        f"import + worker processing (peaks) until all ready: {total_s:.1f} s = "
        f"{len(files) / total_s:.0f} clips/s"
    )
    print(f"peak RSS: importer {importer_rss:.0f} MB, worker {worker.peak_rss / 2**20:.0f} MB")
    scaled = total_s * 2500 / len(files)
    print(
        f"target: 2,500 clips in < {TARGET_S:.0f} s; ratio {scaled / TARGET_S:.2f} "
        f"({'met' if scaled < TARGET_S else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
