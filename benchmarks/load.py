"""Load: simulated annotators against the real stack while the model trains and pre-labels.

gunicorn serving `labelapp.wsgi` (DEBUG off) on PostgreSQL (a throwaway database, dropped
afterwards), Redis as the broker and a real Celery worker. A project of `--clips` clips (a
few real FSDD recordings processed by the worker, then cloned as rows with their own sha256
and the same audio and peaks files), `--annotators` members, and enough human labels for a
first model. Just before the load one training (warm start) and one pre-labeling run are
sent to the worker; they run during the load (`--no-ml`: not started, for comparison).

Each simulated annotator logs in through the login form (CSRF included) and loops as the
workspace does: `POST /api/projects/<id>/next/` (the clip, locked to them), `GET` its peaks
as waveform.js asks for them, thinks for `--think` seconds on average, then `POST`s the
submission workspace.js sends (one clip label, suggestion feedback). It stops after
`--submissions` accepted submissions or `--max-seconds`.

Afterwards the database is checked: annotations == accepted submissions (each one found), no
clip annotated by two of them (annotations_per_clip = 1), no clip locked to two users, and
no clip handed out by `next` to two users (every hand-out is logged).

    .venv/bin/python benchmarks/load.py               # 100,000 clips, 32 annotators, 10,000
    .venv/bin/python benchmarks/load.py --quick       # CI size, under a minute or two
    .venv/bin/python benchmarks/load.py --no-ml --think 0 --max-seconds 120   # capacity
    .venv/bin/python benchmarks/load.py --auto-retrain   # the submissions start trainings

PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and Redis at 127.0.0.1:6379 are needed
(`--pg`, `--redis` to point elsewhere). Exit status 1 when a correctness check fails.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from _stack import Gunicorn, Worker, postgres_database, setup, wait_all_processed

TARGET_P95_MS = 50.0  # next-clip and submit, on this 2-core machine
PASSWORD = "load-annotator-pw-1"  # noqa: S105 - throwaway users in a throwaway database
CANVAS_WIDTH = 1500  # px: the workspace's waveform on a laptop screen
DIGITS = [str(d) for d in range(10)]


def _args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clips", type=int, default=100_000)
    p.add_argument("--annotators", type=int, default=32)
    p.add_argument("--submissions", type=int, default=10_000)
    p.add_argument("--max-seconds", type=float, default=600.0)
    p.add_argument(
        "--think",
        type=float,
        default=1.5,
        help="mean seconds an annotator spends on a clip between its peaks and the submit "
        "(uniform 0.5x-1.5x); 0 for a closed loop with no pause (capacity)",
    )
    p.add_argument("--no-ml", action="store_true", help="no training or pre-labeling running")
    p.add_argument(
        "--auto-retrain",
        action="store_true",
        help="the project's automatic retraining on during the load (the product's schedule: "
        "after max(retrain_every, retrain_growth x labels) new labels), not only the one "
        "training and pre-labeling this script queues",
    )
    p.add_argument("--quick", action="store_true", help="CI size: 2,000 clips, 8, 300, 90 s")
    p.add_argument("--sources", type=int, default=100, help="real FSDD files processed")
    p.add_argument("--seed-labels", type=int, default=300, help="labels before the load")
    p.add_argument("--web-workers", type=int, default=4)
    p.add_argument("--web-threads", type=int, default=2)
    p.add_argument("--worker-nice", type=int, default=10)
    p.add_argument(
        "--worker-idle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the worker under SCHED_IDLE (chrt --idle 0): CPU nothing else wants",
    )
    p.add_argument(
        "--worker-threads",
        type=int,
        default=0,
        help="OMP_NUM_THREADS of the worker (torch threads per task; 0: the cores)",
    )
    p.add_argument("--conn-max-age", type=int, default=60, help="DB_CONN_MAX_AGE of the web")
    p.add_argument(
        "--keep-alive",
        type=int,
        default=30,
        help="gunicorn's keep-alive (s); longer than a think time, as a browser's connection",
    )
    p.add_argument(
        "--pg", default=os.environ.get("LOAD_PG_URL", "postgres://postgres@127.0.0.1:5432")
    )
    p.add_argument("--redis", default=os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/5"))
    p.add_argument(
        "--cache",
        default=os.environ.get("LOAD_CACHE_URL"),
        help="REDIS_URL of the web (Django's cache: login limits), as deployed; default: "
        "database 6 of --redis's server",
    )
    p.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.clips, args.annotators, args.submissions = 2000, 8, 300
        args.max_seconds, args.sources, args.seed_labels = min(args.max_seconds, 90.0), 20, 60
        args.think = min(args.think, 0.1)
    return args


# --- setup ------------------------------------------------------------------------------------


@dataclass
class Fixture:
    project_id: int
    usernames: list[str]
    user_ids: dict[str, int]
    seed_user_id: int
    model_version_id: int | None
    seconds: dict[str, float] = field(default_factory=dict)


def _fsdd_sources(n: int) -> list[Path]:
    from django.conf import settings

    files = sorted((settings.EARMARK_FSDD_DIR / "recordings").glob("*.wav"))
    if not files:
        raise SystemExit(f"no FSDD recordings under {settings.EARMARK_FSDD_DIR}")
    # the same number of each digit, so that a first model sees every class
    by_digit: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        by_digit[f.name[0]].append(f)
    rng = random.Random(0)
    picked = []
    for d in DIGITS:
        picked += rng.sample(by_digit[d], min(len(by_digit[d]), max(1, n // 10)))
    return picked


_COPIED = [
    "file",
    "size_bytes",
    "format",
    "codec",
    "duration",
    "sample_rate",
    "channels",
    "frames",
    "peaks_file",
]


def _clone(project, sources: list, first: int, upto: int) -> list:
    """Clips `first`..`upto - 1`: rows sharing the sources' audio and peaks files, each with
    its own sha256 (the unique key in a project); ready, as the worker left the sources."""
    from labelapp.models import Clip

    created = []
    for start in range(first, upto, 5000):
        rows = []
        for i in range(start, min(upto, start + 5000)):
            src = sources[i % len(sources)]
            stem = src.original_name.rsplit(".", 1)[0]
            rows.append(
                Clip(
                    project=project,
                    sha256=hashlib.sha256(f"{src.sha256}:{i}".encode()).hexdigest(),
                    original_name=f"{stem}-{i:06d}.wav",
                    status=Clip.Status.READY,
                    **{name: getattr(src, name) for name in _COPIED},
                )
            )
        created += Clip.objects.bulk_create(rows)
    return created


def build(args: argparse.Namespace) -> Fixture:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from labelapp.models import Clip, Membership
    from labelapp.services.annotations import annotation_submit
    from labelapp.services.imports import ImportItem, clip_import
    from labelapp.services.projects import membership_set, project_create
    from ml_backend.models import MLConfig, ModelVersion, TrainingRun
    from ml_backend.training import training_request
    from ontology.services import label_create

    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    User = get_user_model()
    lead = User.objects.create_user("load-lead", password=PASSWORD)
    project = project_create(
        name=f"load-{os.getpid()}",
        created_by=lead,
        annotation_mode="clip",
        target_sample_rate=8000,
    )
    # Trainings are started by this script only: 10,000 submissions would otherwise queue a
    # new one every few dozen labels. The submit path still counts each label (same queries).
    MLConfig.objects.create(project=project, enabled=False, strategy="margin", epochs=4)
    for d in DIGITS:
        label_create(ontology=project.ontology, name=d)

    # A few real recordings through the normal pipeline (import, worker computes peaks).
    sources = _fsdd_sources(args.sources)
    for path in sources:
        outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
        assert outcome.status == "imported", outcome
    wait_all_processed(project.pk, len(sources), timeout=300, progress=False)
    ready = list(Clip.objects.filter(project=project, status=Clip.Status.READY).order_by("id"))
    assert len(ready) == len(sources), "some FSDD sources failed to process"
    seconds["sources"] = time.monotonic() - t0

    # The labeled part first: the first model's automatic pre-labeling then has only the
    # sources to score, and the clips the load works on come after it.
    t1 = time.monotonic()
    seed = User.objects.create_user("load-seed", password=PASSWORD)
    membership_set(project=project, user=seed, role="annotator")
    n_seed = min(args.seed_labels, args.clips - len(ready))
    for clip in _clone(project, ready, 0, n_seed):
        annotation_submit(clip=clip, user=seed, clip_labels=[clip.original_name[0]])
    seconds["seed_labels"] = time.monotonic() - t1

    version_id = None
    if not args.no_ml:
        t2 = time.monotonic()
        run = training_request(project=project, user=lead, trigger="manual")
        deadline = time.monotonic() + 600
        while True:
            run.refresh_from_db()
            if run.status not in TrainingRun.ACTIVE_STATUSES:
                break
            if time.monotonic() > deadline:
                raise SystemExit("the first training did not finish in 10 minutes")
            time.sleep(0.5)
        if run.status != TrainingRun.Status.SUCCEEDED:
            raise SystemExit(f"the first training {run.status}: {run.error}")
        version_id = ModelVersion.objects.get(project=project, status="active").pk
        _wait_prelabels_idle(project.pk)
        seconds["first_model"] = time.monotonic() - t2

    t3 = time.monotonic()
    _clone(project, ready, n_seed, args.clips - len(ready))
    # Fresh statistics, as autovacuum would gather shortly after a bulk import: with the
    # stale ones (an empty table) the planner may take clip_rank_idx over clip_queue_idx.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seconds["clones"] = time.monotonic() - t3

    # Annotators: one password hash for all (hashing 32 times would only cost setup time).
    hashed = make_password(PASSWORD)
    usernames = [f"load-{i:03d}" for i in range(args.annotators)]
    User.objects.bulk_create([User(username=u, password=hashed) for u in usernames])
    users = {u.username: u for u in User.objects.filter(username__in=usernames)}
    Membership.objects.bulk_create(
        [Membership(user=u, project=project, role="annotator") for u in users.values()]
    )
    return Fixture(
        project_id=project.pk,
        usernames=usernames,
        user_ids={u: users[u].pk for u in usernames},
        seed_user_id=seed.pk,
        model_version_id=version_id,
        seconds=seconds,
    )


def _wait_prelabels_idle(project_id: int, timeout: float = 900) -> None:
    from ml_backend.models import PrelabelRun

    active = [PrelabelRun.Status.QUEUED, PrelabelRun.Status.RUNNING]
    deadline = time.monotonic() + timeout
    while PrelabelRun.objects.filter(project_id=project_id, status__in=active).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the first pre-labeling did not finish")
        time.sleep(0.5)


def ml_start(fx: Fixture, auto_retrain: bool = False) -> dict:
    from labelapp.models import Project
    from ml_backend.models import MLConfig, ModelVersion
    from ml_backend.prelabel import prelabel_request
    from ml_backend.training import training_request

    project = Project.objects.get(pk=fx.project_id)
    version = ModelVersion.objects.get(pk=fx.model_version_id)
    training = None
    if auto_retrain:
        # The submissions start the trainings, as in a project: the first after
        # max(retrain_every, retrain_growth x the seed labels) of them.
        MLConfig.objects.filter(project=project).update(enabled=True, labels_since_training=0)
    else:
        training = training_request(project=project, trigger="manual").pk
    prelabel = prelabel_request(project=project, model_version=version)
    return {"training": training, "prelabel": prelabel.pk}


def ml_state(project_id: int) -> dict:
    from ml_backend.models import PrelabelRun, TrainingRun

    trainings = [
        {
            "id": r.pk,
            "status": r.status,
            "trigger": r.trigger,
            "progress": round(r.progress, 3),
            "message": r.message,
            "started_at": r.started_at.isoformat() if r.started_at else None,
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        }
        for r in TrainingRun.objects.filter(project_id=project_id).order_by("id")
    ]
    prelabels = [
        {"id": r.pk, "status": r.status, "done": r.done, "total": r.total}
        for r in PrelabelRun.objects.filter(project_id=project_id).order_by("id")
    ]
    return {"trainings": trainings, "prelabels": prelabels}


# --- the simulated annotators -----------------------------------------------------------------


class Run:
    """What the annotator threads share: the stop rule and what they recorded."""

    def __init__(self, target: int, max_seconds: float):
        self.target = target
        self.max_seconds = max_seconds
        self.lock = threading.Lock()
        self.reserved = 0  # submissions done or under way
        self.started = 0.0
        self.stop = threading.Event()
        self.exhausted = threading.Event()
        self.samples: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
        self.handouts: list[tuple[int, str, float]] = []  # (clip, username, t)
        self.submitted: list[tuple[int, str]] = []
        self.exceptions: Counter = Counter()
        self.elapsed = 0.0
        self.ml_ids: dict = {}

    def reserve(self) -> bool:
        with self.lock:
            if self.stop.is_set() or self.reserved >= self.target:
                return False
            if time.monotonic() - self.started > self.max_seconds:
                self.stop.set()
                return False
            self.reserved += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.reserved -= 1

    def record(self, endpoint: str, started: float, status: int) -> None:
        now = time.monotonic()
        self.samples[endpoint].append((now - self.started, (now - started) * 1000, status))


class Annotator(threading.Thread):
    def __init__(self, base: str, username: str, project_id: int, run: Run, think: float):
        super().__init__(name=username, daemon=True)
        self.base = base
        self.username = username
        self.project_id = project_id
        self.run_ = run
        self.think = think
        self.rng = random.Random(username)
        self.error: str | None = None

    def login(self) -> None:
        import requests

        s = requests.Session()
        s.get(f"{self.base}/accounts/login/", timeout=30).raise_for_status()
        r = s.post(
            f"{self.base}/accounts/login/",
            data={
                "username": self.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": s.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=30,
        )
        if r.status_code != 302 or "sessionid" not in s.cookies:
            raise RuntimeError(f"login of {self.username} failed: HTTP {r.status_code}")
        # as api.js does: the (rotated) CSRF cookie goes back in a header on every write
        s.headers["X-CSRFToken"] = s.cookies["csrftoken"]
        self.session = s
        # warm this connection and the web process's code paths; not measured
        s.get(f"{self.base}/api/projects/{self.project_id}/", timeout=30).raise_for_status()

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - reported, never silently lost
            self.error = f"{type(exc).__name__}: {exc}"

    def _call(self, endpoint: str, method: str, url: str, **kw):
        import requests

        started = time.monotonic()
        try:
            r = self.session.request(method, url, timeout=60, **kw)
        except requests.RequestException as exc:
            self.run_.record(endpoint, started, 0)
            self.run_.exceptions[f"{endpoint}: {type(exc).__name__}"] += 1
            return None
        self.run_.record(endpoint, started, r.status_code)
        return r

    def _loop(self) -> None:
        run, base = self.run_, self.base
        while run.reserve():
            r = self._call("next", "POST", f"{base}/api/projects/{self.project_id}/next/")
            if r is None or r.status_code != 200:
                run.release()
                if r is not None and r.status_code == 204:
                    run.exhausted.set()
                    return
                time.sleep(0.2)
                continue
            ws = r.json()
            clip = ws["clip"]
            run.handouts.append((clip["id"], self.username, time.monotonic() - run.started))
            # waveform.js: the inline overview is too coarse for a short clip, so the first
            # view asks for the whole clip at the canvas's width
            self._call(
                "peaks",
                "GET",
                f"{base}/api/clips/{clip['id']}/peaks",
                params={"start": "0", "end": str(clip["duration"]), "width": str(CANVAS_WIDTH)},
            )
            pause = self.think * self.rng.uniform(0.5, 1.5)
            time.sleep(pause)
            truth = clip["original_name"][0]  # FSDD names start with the spoken digit
            feedback = []
            suggestions = ws.get("suggestions") or {}
            for s in suggestions.get("clip_labels", []):
                feedback.append(
                    {
                        "kind": "clip",
                        "label": s["label"],
                        "label_id": s["label_id"],
                        "score": s["score"],
                        "action": "accepted" if s["label"] == truth else "rejected",
                    }
                )
            mine = ws.get("annotation")
            r = self._call(
                "submit",
                "POST",
                f"{base}/api/clips/{clip['id']}/annotations/",
                json={
                    "clip_labels": [truth],
                    "segments": [],
                    "expected_version": mine["version"] if mine else 0,
                    "lead_time": round(pause, 1),
                    "suggestion_feedback": feedback,
                    "claim_next": False,
                },
            )
            if r is not None and r.status_code == 201:
                run.submitted.append((clip["id"], self.username))
            else:
                run.release()


def monitor(run: Run, project_id: int, web: Gunicorn, worker: Worker | None, out: list) -> None:
    """Every 5 s: load average, CPU used by the web and the worker, ML progress."""
    import psutil

    me = psutil.Process()
    postgres: dict[int, psutil.Process] = {}

    def harness_cpu() -> float:
        times = me.cpu_times()
        return times.user + times.system

    def postgres_cpu() -> float:
        """CPU seconds of the PostgreSQL server's processes (the backends come and go)."""
        total = 0.0
        for proc in psutil.process_iter(["name"]):
            if proc.info["name"] == "postgres":
                postgres.setdefault(proc.pid, proc)
        for pid, proc in list(postgres.items()):
            try:
                times = proc.cpu_times()
            except psutil.Error:
                postgres.pop(pid)  # ended: its seconds leave the sum, clamped below
                continue
            total += times.user + times.system
        return total

    last = (
        time.monotonic(),
        web.cpu_seconds(),
        worker.cpu_seconds() if worker else 0.0,
        harness_cpu(),
        postgres_cpu(),
    )
    while not run.stop.wait(5.0):
        now, web_cpu, harness = time.monotonic(), web.cpu_seconds(), harness_cpu()
        pg_cpu = postgres_cpu()
        worker_cpu = worker.cpu_seconds() if worker else 0.0
        dt = now - last[0]
        state = ml_state(project_id)
        out.append(
            {
                "t": round(now - run.started, 1),
                "submitted": len(run.submitted),
                "load1": os.getloadavg()[0],
                "cpu_total": psutil.cpu_percent(),
                "web_cores": round((web_cpu - last[1]) / dt, 2),
                "worker_cores": round((worker_cpu - last[2]) / dt, 2),
                "harness_cores": round((harness - last[3]) / dt, 2),
                "postgres_cores": round(max(0.0, pg_cpu - last[4]) / dt, 2),
                "ml": state,
            }
        )
        last = (now, web_cpu, worker_cpu, harness, pg_cpu)
        from django.db import connection

        connection.close()


def drive(args, fx: Fixture, web: Gunicorn, worker: Worker) -> tuple[Run, list, list[str]]:
    run = Run(args.submissions, args.max_seconds)
    annotators = [Annotator(web.url, u, fx.project_id, run, args.think) for u in fx.usernames]
    # the login form hashes a password per request: a few at a time, not 32 at once
    errors: list[str] = []
    sem = threading.Semaphore(4)

    def login(a: Annotator) -> None:
        with sem:
            try:
                a.login()
            except Exception as exc:  # noqa: BLE001
                errors.append(str(exc))

    logins = [threading.Thread(target=login, args=(a,)) for a in annotators]
    for t in logins:
        t.start()
    for t in logins:
        t.join()
    if errors:
        raise SystemExit("login failed: " + "; ".join(errors[:3]))
    ml = {} if args.no_ml else ml_start(fx, auto_retrain=args.auto_retrain)
    timeline: list = []
    run.started = time.monotonic()
    mon = threading.Thread(
        target=monitor, args=(run, fx.project_id, web, worker, timeline), daemon=True
    )
    mon.start()
    for a in annotators:
        a.start()
    for a in annotators:
        a.join()
    run.elapsed = time.monotonic() - run.started
    for a in annotators:
        a.session.close()
    run.stop.set()
    mon.join(timeout=30)
    run.ml_ids = ml
    return run, timeline, [f"{a.username}: {a.error}" for a in annotators if a.error]


# --- checks and report ------------------------------------------------------------------------


def check(run: Run, fx: Fixture) -> dict:
    from django.db.models import Count
    from django.utils import timezone

    from labelapp.models import Annotation, ClipAssignment

    ok = set(run.submitted)
    stored = set(
        Annotation.objects.filter(
            clip__project_id=fx.project_id, annotator__username__in=fx.usernames
        ).values_list("clip_id", "annotator__username")
    )
    doubly_annotated = (
        Annotation.objects.filter(clip__project_id=fx.project_id)
        .exclude(status="draft")
        .values("clip")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    doubly_locked = (
        ClipAssignment.objects.filter(project_id=fx.project_id, expires_at__gt=timezone.now())
        .values("clip")
        .annotate(n=Count("user", distinct=True))
        .filter(n__gt=1)
        .count()
    )
    holders: dict[int, set[str]] = defaultdict(set)
    for clip_id, username, _t in run.handouts:
        holders[clip_id].add(username)
    return {
        "submissions_ok": len(run.submitted),
        "annotations_in_db": len(stored),
        "submissions_missing_in_db": len(ok - stored),
        "annotations_not_acknowledged": len(stored - ok),
        "clips_annotated_twice": doubly_annotated,
        "clips_locked_to_two": doubly_locked,
        "handouts": len(run.handouts),
        "clips_handed_to_two": sum(1 for users in holders.values() if len(users) > 1),
    }


def _pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def summarize(run: Run, ok_statuses: dict[str, set[int]]) -> dict:
    out = {}
    for endpoint in ("next", "peaks", "submit"):
        samples = run.samples.get(endpoint, [])
        ms = sorted(s[1] for s in samples)
        statuses = Counter(s[2] for s in samples)
        errors = {str(k): v for k, v in statuses.items() if k not in ok_statuses[endpoint]}
        out[endpoint] = {
            "count": len(ms),
            "p50": _pct(ms, 0.50),
            "p95": _pct(ms, 0.95),
            "p99": _pct(ms, 0.99),
            "max": ms[-1] if ms else float("nan"),
            "mean": statistics.fmean(ms) if ms else float("nan"),
            "errors": errors,
            "statuses": {str(k): v for k, v in statuses.items()},
        }
    return out


def windows(run: Run, seconds: float = 30.0) -> list[dict]:
    """p50/p95 of next and submit per window of the run: latency next to what the worker and
    the rest of the machine were doing then (the timeline)."""
    out = []
    by_window: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for endpoint in ("next", "submit"):
        for t, ms, _status in run.samples.get(endpoint, []):
            by_window[int(t // seconds)][endpoint].append(ms)
    for w in sorted(by_window):
        row: dict = {"from_s": w * seconds}
        for endpoint, values in by_window[w].items():
            values.sort()
            row[endpoint] = {"n": len(values), "p50": _pct(values, 0.5), "p95": _pct(values, 0.95)}
        out.append(row)
    return out


def report(args, fx, run, stats, checks, timeline, ml_end, thread_errors) -> dict:
    rate = len(run.submitted) / run.elapsed if run.elapsed else 0.0
    requests_n = sum(s["count"] for s in stats.values())
    print()
    print(
        f"load: {args.annotators} annotators, {args.clips:,} clips, think {args.think} s, "
        f"ML {'off' if args.no_ml else 'on'}"
        f"{', automatic retraining' if args.auto_retrain and not args.no_ml else ''}; "
        f"gunicorn {args.web_workers}x{args.web_threads}, "
        f"worker nice {args.worker_nice}{' SCHED_IDLE' if args.worker_idle else ''}, "
        f"threads {args.worker_threads or 'all cores'}"
    )
    print(
        f"{len(run.submitted):,} submissions in {run.elapsed:.1f} s = {rate:.1f}/s; "
        f"{requests_n:,} requests = {requests_n / run.elapsed:.1f}/s"
        + ("; the queue ran out" if run.exhausted.is_set() else "")
    )
    print(f"{'endpoint':8} {'count':>7} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}  errors")
    for endpoint, s in stats.items():
        print(
            f"{endpoint:8} {s['count']:7d} {s['p50']:7.1f}ms {s['p95']:7.1f}ms "
            f"{s['p99']:7.1f}ms {s['max']:7.0f}ms  {s['errors'] or 0}"
        )
    for endpoint in ("next", "submit"):
        ratio = stats[endpoint]["p95"] / TARGET_P95_MS
        verdict = "met" if ratio < 1 else "NOT met"
        print(f"{endpoint} p95 / {TARGET_P95_MS:.0f} ms target = {ratio:.2f} ({verdict})")
    if run.exceptions:
        print("client exceptions:", dict(run.exceptions))
    if thread_errors:
        print("annotator threads died:", thread_errors[:5])
    print("checks:", json.dumps(checks))
    if timeline:
        loads = [p["load1"] for p in timeline]
        web = statistics.fmean(p["web_cores"] for p in timeline)
        worker = statistics.fmean(p["worker_cores"] for p in timeline)
        harness = statistics.fmean(p["harness_cores"] for p in timeline)
        pg = statistics.fmean(p["postgres_cores"] for p in timeline)
        print(
            f"load average during the run: median {statistics.median(loads):.1f}, max "
            f"{max(loads):.1f}; cores used: web {web:.2f}, worker {worker:.2f}, "
            f"PostgreSQL {pg:.2f}, harness (clients) {harness:.2f}"
        )
    for t in ml_end["trainings"]:
        print(
            f"training {t['id']} ({t['trigger']}): {t['status']} {t['progress']:.0%} {t['message']}"
        )
    for p in ml_end["prelabels"]:
        print(f"pre-labeling {p['id']}: {p['status']} {p['done']:,}/{p['total']:,}")
    return {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "setup_seconds": fx.seconds,
        "elapsed_s": run.elapsed,
        "submissions_per_s": rate,
        "endpoints": stats,
        "checks": checks,
        "exceptions": dict(run.exceptions),
        "thread_errors": thread_errors,
        "ml_started": run.ml_ids,
        "ml_end": ml_end,
        "timeline": timeline,
        "windows": windows(run),
        "queue_exhausted": run.exhausted.is_set(),
    }


def failures(result: dict, args) -> list[str]:
    c = result["checks"]
    bad = []
    for endpoint, s in result["endpoints"].items():
        if s["errors"]:
            bad.append(f"{endpoint} errors {s['errors']}")
    if result["exceptions"] or result["thread_errors"]:
        bad.append("client exceptions")
    if c["submissions_missing_in_db"] or c["annotations_in_db"] != c["submissions_ok"]:
        bad.append("submissions and stored annotations differ")
    for key in ("clips_annotated_twice", "clips_locked_to_two", "clips_handed_to_two"):
        if c[key]:
            bad.append(f"{key}: {c[key]}")
    if (
        not result["queue_exhausted"]
        and c["submissions_ok"] < args.submissions
        and (result["elapsed_s"] < args.max_seconds)
    ):
        bad.append("stopped early")
    return bad


def main(argv=None) -> int:
    args = _args(argv)
    import redis

    os.environ["CELERY_BROKER_URL"] = args.redis
    os.environ["REDIS_URL"] = args.cache or urlsplit(args.redis)._replace(path="/6").geturl()
    os.environ["CELERY_QUEUE"] = f"load-{os.getpid()}"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"  # the worker does the work, as deployed
    os.environ.setdefault("EARMARK_TRAIN_MIN_STEPS", "40" if args.quick else "200")
    # Its first training (300 seed labels) would pretrain under "auto": not what is measured here,
    # and the first model's time would not compare with the earlier runs'.
    os.environ.setdefault("EARMARK_PRETRAIN", "0")
    # everything this run writes lives in its own var dir, removed at the end
    for key in ("EARMARK_VAR_DIR", "MEDIA_ROOT"):
        os.environ.pop(key, None)
    name = f"earmark_load_{os.getpid()}"
    started = time.monotonic()
    with postgres_database(args.pg, name) as url:
        os.environ["DATABASE_URL"] = url
        var = setup("load")
        print(f"database {name}, broker {args.redis} queue {os.environ['CELERY_QUEUE']}, var {var}")
        try:
            with Worker(
                concurrency=2,
                nice=args.worker_nice,
                cold_stop=True,
                threads=args.worker_threads,
                idle=args.worker_idle,
            ) as worker:
                fx = build(args)
                print(
                    "setup: "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in fx.seconds.items())
                    + f"; total {time.monotonic() - started:.0f} s"
                )
                web_env = {"DB_CONN_MAX_AGE": str(args.conn_max_age)}
                with Gunicorn(
                    args.web_workers, args.web_threads, env=web_env, keep_alive=args.keep_alive
                ) as web:
                    run, timeline, thread_errors = drive(args, fx, web, worker)
                ml_end = ml_state(fx.project_id)
            checks = check(run, fx)
            stats = summarize(run, {"next": {200, 204}, "peaks": {200}, "submit": {201}})
            result = report(args, fx, run, stats, checks, timeline, ml_end, thread_errors)
        finally:
            queue = os.environ["CELERY_QUEUE"]
            redis.Redis.from_url(args.redis).delete(
                queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
            )
            # the logs outlive the run (a few MB); the media and features do not
            logs = Path(tempfile.gettempdir()) / f"earmark-load-{os.getpid()}-logs"
            logs.mkdir(exist_ok=True)
            for log in var.glob("*.log"):
                shutil.copy(log, logs / log.name)
            shutil.rmtree(var, ignore_errors=True)
    bad = failures(result, args)
    result["failures"] = bad
    result["logs"] = str(logs)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    print(f"logs (gunicorn, worker): {logs}")
    print("FAILED: " + "; ".join(bad) if bad else "all checks passed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
