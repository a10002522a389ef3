"""The S3 media store against a real S3 endpoint: a moto server process on a free port.

The storage is the one settings.py builds from the AWS_* environment (evaluated afresh with
a bucket of the test's own), and every read and write goes through the API or the services:
uploads, processing, audio with Range requests, peaks, spectrograms, feature extraction,
training and pre-labeling, exports and deleting a project with its media; one test runs the
loop (processing, training, pre-labeling, the purge) in a real worker process on the bucket.
Without moto the module skips, except under CI=true, where a missing moto is a failure.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import runpy
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.files.storage import default_storage, storages
from django.core.files.uploadedfile import SimpleUploadedFile

from labelapp.devtools import process_stop
from labelapp.models import Clip, ExportJob
from tests.faults._procs import free_port, wait_port

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(__file__).resolve().parents[1] / "labelapp" / "settings.py"
REGION = "us-east-1"


def _require(*modules: str) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    message = (
        f"the S3 tests need {', '.join(missing)} "
        "(pip install -e '.[dev,s3]': moto[server], django-storages[s3], boto3)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " and CI=true makes a missing S3 server a failure")
    pytest.skip(message)


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """`python -m moto.server` as a process of its own: a real HTTP S3 endpoint."""
    _require("moto", "flask", "boto3", "storages")
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process_stop(proc, timeout=10)


class Bucket:
    """The test's bucket, read with boto3 directly (not through the app's storage)."""

    def __init__(self, client, name: str):
        self.client, self.name = client, name

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.name, Key=key)


@pytest.fixture
def bucket(moto_endpoint, settings, monkeypatch, tmp_path):
    """A fresh bucket, and STORAGES["default"] as settings.py builds it for that bucket."""
    import boto3

    name = f"earmark-{uuid.uuid4().hex[:12]}"
    env = {
        "AWS_STORAGE_BUCKET_NAME": name,
        "AWS_S3_ENDPOINT_URL": moto_endpoint,
        "AWS_S3_REGION_NAME": REGION,
        "AWS_ACCESS_KEY_ID": "earmark-test",
        "AWS_SECRET_ACCESS_KEY": "earmark-test-secret",
        # No developer's ~/.aws profile or token leaks into the test.
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "EARMARK_VAR_DIR": str(tmp_path / "var"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    client.create_bucket(Bucket=name)
    configured = runpy.run_path(str(SETTINGS_FILE))["STORAGES"]
    # Assigning the setting sends setting_changed: Django drops its cached storages and
    # default_storage's wrapped instance, so the next use builds an S3Storage.
    settings.STORAGES = {**settings.STORAGES, "default": configured["default"]}
    # A media root of the test's own: only the feature cache may land there.
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from storages.backends.s3 import S3Storage

    assert isinstance(storages["default"], S3Storage)
    with pytest.raises(NotImplementedError):
        default_storage.path("anything")  # the same instance: a remote store, no local paths
    yield Bucket(client, name)
    local = sorted(p.name for p in Path(settings.MEDIA_ROOT).glob("*"))
    assert set(local) <= {"features"}, f"media written to the local disk: {local}"


@pytest.fixture
def fetched(bucket):
    """Bytes the app's storage fetches with each GetObject, as the endpoint answered."""
    sizes: list[int] = []

    def count(parsed, **_):
        sizes.append(int(parsed.get("ContentLength", 0)))

    events = default_storage.connection.meta.client.meta.events
    events.register("after-call.s3.GetObject", count)
    yield sizes
    events.unregister("after-call.s3.GetObject", count)


def _upload(client, project_id, *files):
    return client.post(
        f"/api/projects/{project_id}/clips/", {"files": list(files)}, format="multipart"
    )


def _tone_project(project, wav_factory) -> list[SimpleUploadedFile]:
    """A single-label project of two tones ("tone/low", "tone/high") that trains only on demand,
    and 12 one-second uploads for it: low0.wav ... high11.wav, 0-7 to label (four of each),
    8-11 left to pre-label."""
    from ml_backend.models import MLConfig
    from ontology.services import label_get_or_create_path

    project.label_mode, project.annotation_mode, project.target_sample_rate = "single", "clip", 8000
    project.save()
    MLConfig.objects.create(project=project, min_labels=1000, epochs=2)
    for name in ("tone/low", "tone/high"):
        label_get_or_create_path(ontology=project.ontology, path=name)
    files = []
    for i in range(12):
        kind = "low" if i % 2 else "high"
        path = wav_factory(f"{kind}{i}.wav", seconds=1.0, sr=8000, freq=300.0 if i % 2 else 2500.0)
        files.append(SimpleUploadedFile(path.name, path.read_bytes()))
    return files


@pytest.fixture
def uploaded(bucket, client_for, lead, project, wav_factory, django_capture_on_commit_callbacks):
    """A 20 s clip uploaded through the API and processed (eagerly, on commit)."""

    def upload(**kwargs):
        path = wav_factory(**{"seconds": 20.0, "sr": 16000, **kwargs})
        with django_capture_on_commit_callbacks(execute=True):
            res = _upload(
                client_for(lead), project.pk, SimpleUploadedFile(path.name, path.read_bytes())
            )
        assert res.status_code == 201, res.json()
        (entry,) = res.json()["files"]
        assert entry["status"] == "imported", entry
        clip = Clip.objects.get(pk=entry["clip_id"])
        assert clip.status == "ready", clip.error
        return clip, path.read_bytes()

    return upload


def test_uploads_land_in_the_bucket_with_their_peaks(
    bucket, client_for, lead, project, wav_factory, django_capture_on_commit_callbacks
):
    good = [wav_factory(seconds=1.5, sr=22050, channels=2), wav_factory(seconds=0.5, sr=8000)]
    with django_capture_on_commit_callbacks(execute=True):
        res = _upload(
            client_for(lead),
            project.pk,
            *(SimpleUploadedFile(p.name, p.read_bytes()) for p in good),
            SimpleUploadedFile("bad.wav", b"not audio at all" * 20),
        )
    assert res.status_code == 201, res.json()
    files = {f["name"]: f for f in res.json()["files"]}
    assert [files[p.name]["status"] for p in good] == ["imported", "imported"]
    assert files["bad.wav"]["status"] == "rejected"
    clips = {c.original_name: c for c in Clip.objects.filter(project=project)}
    assert {c.status for c in clips.values()} == {"ready"}, [c.error for c in clips.values()]
    expected = sorted(
        [c.file.name for c in clips.values()] + [c.peaks_file for c in clips.values()]
    )
    assert bucket.keys() == expected  # originals and peaks, nothing of the rejected file
    for p in good:
        clip = clips[p.name]
        assert re.fullmatch(
            rf"clips/{project.pk}/{clip.sha256[:2]}/{clip.sha256}-[0-9a-f]{{8}}\.wav",
            clip.file.name,
        )
        assert bucket.read(clip.file.name) == p.read_bytes()  # stored untouched
        assert clip.peaks_file == f"peaks/{project.pk}/{clip.pk}.peaks"
    # the same content again: a duplicate, and no second object
    with django_capture_on_commit_callbacks(execute=True):
        again = _upload(
            client_for(lead), project.pk, SimpleUploadedFile("copy.wav", good[0].read_bytes())
        )
    assert again.json()["files"][0]["status"] == "duplicate"
    assert bucket.keys() == expected


def test_an_upload_to_a_bucket_that_is_gone_is_rejected_with_the_reason_not_a_500(
    bucket, client_for, lead, project, wav_factory
):
    """A bucket that did not exist (or an endpoint nobody answered at) was a 500, and the
    import job stayed "running" for a day (an operator's exploratory test)."""
    from labelapp.models import ImportJob

    bucket.client.delete_bucket(Bucket=bucket.name)
    path = wav_factory(seconds=0.5, sr=8000)
    res = _upload(client_for(lead), project.pk, SimpleUploadedFile(path.name, path.read_bytes()))
    assert res.status_code in (201, 400), res.content
    (outcome,) = res.json()["files"]
    assert outcome["status"] == "rejected"
    assert "could not read or store the file" in outcome["error"]
    assert "NoSuchBucket" in outcome["error"] or "does not exist" in outcome["error"]
    job = ImportJob.objects.get(project=project)
    assert job.status not in ("running", "pending"), job.status
    assert not Clip.objects.filter(project=project).exists()


def test_reprocessing_a_clip_replaces_its_peaks_under_the_same_key(
    bucket, uploaded, django_capture_on_commit_callbacks
):
    from labelapp.services.clips import clip_reprocess

    clip, _ = uploaded(seconds=2.0)
    before = bucket.read(clip.peaks_file)
    with django_capture_on_commit_callbacks(execute=True):
        clip_reprocess(clip)
    clip.refresh_from_db()
    assert clip.status == "ready"
    # the storage does not overwrite: a second object under a random suffix would be a leak
    assert bucket.keys("peaks/") == [clip.peaks_file]
    assert bucket.read(clip.peaks_file) == before


def test_audio_streams_from_the_bucket_with_range_requests(
    bucket, fetched, uploaded, client_for, annotator
):
    clip, original = uploaded()
    client = client_for(annotator)
    url = f"/api/clips/{clip.pk}/audio"
    fetched.clear()
    part = client.get(url, HTTP_RANGE="bytes=300000-300099")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 300000-300099/{len(original)}"
    assert b"".join(part.streaming_content) == original[300000:300100]
    # only (about) the range came from the bucket, not the whole recording
    assert 0 < sum(fetched) < len(original) // 4, fetched
    full = client.get(url)
    assert full.status_code == 200 and full["Content-Length"] == str(len(original))
    assert b"".join(full.streaming_content) == original
    tail = client.get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == original[-10:]
    open_end = client.get(url, HTTP_RANGE=f"bytes={len(original) - 5}-")
    assert b"".join(open_end.streaming_content) == original[-5:]
    bad = client.get(url, HTTP_RANGE=f"bytes={len(original) + 10}-")
    assert bad.status_code == 416
    assert client.get(url, HTTP_IF_NONE_MATCH=full["ETag"]).status_code == 304


def test_peaks_and_spectrograms_read_only_their_window_from_the_bucket(
    bucket, fetched, uploaded, client_for, annotator
):
    from PIL import Image

    clip, original = uploaded()
    client = client_for(annotator)

    def get(url: str):
        fetched.clear()
        res = client.get(url)
        assert res.status_code == 200, res.content[:500]
        # a window's bytes (and the file's header), never the whole recording
        assert 0 < sum(fetched) < len(original) // 4, (url, fetched)
        return res

    overview = get(f"/api/clips/{clip.pk}/peaks?start=0&end=20&width=400").json()
    assert len(overview["min"]) == len(overview["max"]) == 400 and overview["level"] >= 0
    assert max(overview["max"]) == pytest.approx(0.5, abs=0.05)  # the generated sine
    deep = get(f"/api/clips/{clip.pk}/peaks?start=10&end=10.01&width=500").json()
    assert deep["level"] == -1 and len(deep["min"]) == 160  # 10 ms of samples at 16 kHz
    assert max(deep["max"]) == pytest.approx(0.5, abs=0.05)
    png = get(f"/api/clips/{clip.pk}/spectrogram?start=5&end=6&width=320&height=120")
    assert png["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (320, 120)
    workspace = get(f"/api/clips/{clip.pk}/workspace/").json()
    assert len(workspace["overview"]["min"]) > 0  # the whole-clip peaks, sent inline


def test_a_clip_whose_object_is_gone_is_a_404(bucket, uploaded, client_for, annotator):
    clip, _ = uploaded(seconds=1.0)
    bucket.delete(clip.file.name)
    res = client_for(annotator).get(f"/api/clips/{clip.pk}/audio")
    assert res.status_code == 404 and "missing" in res.json()["detail"]


def test_a_media_store_that_does_not_answer_is_a_503_in_seconds_and_names_no_endpoint(
    bucket, uploaded, client_for, annotator, lead, project, settings, monkeypatch, wav_factory
):
    """An operator froze the S3 endpoint: every request touching it held a web thread for
    three minutes (botocore's 60 s read timeout, retried), the health check's threads with
    them, and then said the audio was "missing" (404), the peaks a 500; an upload's report
    showed the endpoint, the bucket and the key. Here an endpoint that takes connections and
    never answers, with the timeouts the settings give (shortened for the test)."""
    import socket
    import time

    clip, _ = uploaded(seconds=1.0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("AWS_S3_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("EARMARK_S3_READ_TIMEOUT_S", "1")
        monkeypatch.setenv("EARMARK_S3_ATTEMPTS", "1")
        configured = runpy.run_path(str(SETTINGS_FILE))["STORAGES"]
        settings.STORAGES = {**settings.STORAGES, "default": configured["default"]}
        client = client_for(annotator)
        began = time.monotonic()
        for what in ("audio", "peaks?start=0&end=1&width=50", "spectrogram?start=0&end=1"):
            res = client.get(f"/api/clips/{clip.pk}/{what}")
            assert res.status_code == 503, (what, res.status_code, res.content[:200])
            assert res.json()["code"] == "media_unavailable" and res["Retry-After"] == "30"
        assert time.monotonic() - began < 15
        # liveness: the process and its database; readiness names the store, not its address
        assert client.get("/healthz").status_code == 200
        ready = client.get("/healthz?deep=1")
        assert ready.status_code == 503 and ready.json()["checks"]["media"]["ok"] is False
        assert "the media store is not answering" in ready.json()["detail"]
        assert endpoint not in ready.content.decode()
        files = [wav_factory(f"{n}.wav", seconds=0.5, sr=8000) for n in ("first", "second")]
        began = time.monotonic()
        res = _upload(
            client_for(lead),
            project.pk,
            *(SimpleUploadedFile(p.name, p.read_bytes()) for p in files),
        )
        first, second = res.json()["files"]
        assert first["status"] == "rejected" and first["code"] == "media_unavailable"
        assert "the media store is not answering" in first["error"]
        assert endpoint not in first["error"] and bucket.name not in first["error"]
        # the next file is not tried (each waited out the timeouts again: a minute a file)
        assert second["status"] == "rejected" and "not tried" in second["error"]
        assert time.monotonic() - began < 10


def test_processing_and_features_stream_a_long_recording_in_ranges(bucket, fetched, uploaded):
    """The worker's reads of a recording (its peaks, its log-mel) go through the ranged
    reader: GETs of at most MAX_FETCH bytes, not S3File's download of the whole object into
    memory (a 2 GB upload would be 2 GB of a worker's memory)."""
    import numpy as np

    from labelapp.audio import read_peaks_header
    from labelapp.media import MAX_FETCH
    from ml_backend.dataset import clip_features
    from ml_backend.features import FeatureConfig, load_or_compute

    fetched.clear()
    clip, original = uploaded(seconds=60.0, sr=48000, channels=2)  # 11.5 MB
    assert len(original) > 2 * MAX_FETCH
    assert len(fetched) > 2 and max(fetched) <= MAX_FETCH, fetched
    assert sum(fetched) >= len(original)  # every byte was decoded, in pieces
    with default_storage.open(clip.peaks_file, "rb") as fh:
        header = read_peaks_header(fh)
    assert (header.frames, header.channels, header.sample_rate) == (60 * 48000, 2, 48000)

    config = FeatureConfig(sample_rate=8000)
    fetched.clear()
    features = clip_features(clip, config)
    assert len(fetched) > 2 and max(fetched) <= MAX_FETCH, fetched
    local = bucket.read(clip.file.name)
    expected = load_or_compute(io.BytesIO(local), config)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)


def test_exports_are_written_to_the_bucket_and_downloaded_from_it(
    bucket, uploaded, client_for, lead, annotator, project, django_capture_on_commit_callbacks
):
    from labelapp.services.annotations import annotation_submit
    from ontology.services import label_get_or_create_path

    clip, _ = uploaded(seconds=1.0)
    label_get_or_create_path(ontology=project.ontology, path="bird/robin")
    annotation_submit(clip=clip, user=annotator, clip_labels=["bird/robin"])
    client = client_for(lead)
    with django_capture_on_commit_callbacks(execute=True):
        res = client.post(f"/api/projects/{project.pk}/exports/", {"format": "csv"}, format="json")
    assert res.status_code == 202, res.json()
    job = ExportJob.objects.get(pk=res.json()["id"])
    assert job.status == "done", job.error
    assert bucket.keys("exports/") == [f"exports/{project.pk}/{job.pk}.csv"]
    stored = bucket.read(job.file)
    assert job.size_bytes == len(stored) and b"bird/robin" in stored
    download = client.get(f"/api/exports/{job.pk}/download")
    assert download.status_code == 200
    assert download["Content-Length"] == str(len(stored))
    assert b"".join(download.streaming_content) == stored


@pytest.mark.slow
def test_training_stores_its_model_in_the_bucket_and_prelabeling_loads_it_back(
    bucket,
    fetched,
    client_for,
    lead,
    annotator,
    project,
    wav_factory,
    monkeypatch,
    settings,
    request,
    django_capture_on_commit_callbacks,
):
    from labelapp.services.annotations import annotation_submit
    from ml_backend import training
    from ml_backend.inference import load_model
    from ml_backend.models import ModelVersion, Prediction, PrelabelRun, TrainingRun

    monkeypatch.setattr(training, "MIN_STEPS", 20)  # a few seconds, not a real training
    monkeypatch.setattr(training, "PRETRAIN", "on")  # pretrained on the 12 clips, in the bucket
    monkeypatch.setattr(training, "PRETRAIN_MIN_CLIPS", 8)
    files = _tone_project(project, wav_factory)
    with django_capture_on_commit_callbacks(execute=True):
        assert _upload(client_for(lead), project.pk, *files).status_code == 201
    clips = list(Clip.objects.filter(project=project))
    assert len(clips) == 12 and {c.status for c in clips} == {"ready"}
    labeled = [c for c in clips if int("".join(filter(str.isdigit, c.original_name))) < 8]
    unlabeled = [c for c in clips if c not in labeled]
    for clip in labeled:
        kind = "low" if clip.original_name.startswith("low") else "high"
        annotation_submit(clip=clip, user=annotator, clip_labels=[f"tone/{kind}"])
    # The model must come from the bucket, not from this process's cache, and no later test
    # may get it from there under a name its own run happens to reuse.
    load_model.cache_clear()
    request.addfinalizer(load_model.cache_clear)
    fetched.clear()
    with django_capture_on_commit_callbacks(execute=True):
        res = client_for(lead).post(f"/api/projects/{project.pk}/train/")
    assert res.status_code == 201, res.json()
    run = TrainingRun.objects.get(pk=res.json()["id"])
    assert run.status == "succeeded", (run.error, run.log[-3000:])
    version = ModelVersion.objects.get(project=project, status="active")
    assert version.artifact_path == f"models/{project.pk}/run-{run.pk}.pt"
    from ml_backend.dataset import feature_config_for

    backbone = training.backbone_name(project, feature_config_for(project))
    assert sorted(bucket.keys("models/")) == sorted([version.artifact_path, backbone])
    assert version.metrics["started_from"] == "pretrained on the project's clips"
    # features were computed from the bucket's objects (a fresh cache: nothing to reuse)
    cached = list((Path(settings.MEDIA_ROOT) / "features").rglob("*.npy"))
    assert len(cached) >= len(labeled), cached
    prelabel = PrelabelRun.objects.get(project=project, model_version=version)
    assert prelabel.status == "succeeded", prelabel.error
    assert Prediction.objects.filter(model_version=version, clip__in=unlabeled).count() == 4
    assert load_model.cache_info().misses >= 1
    assert len(bucket.read(version.artifact_path)) in fetched  # the checkpoint was downloaded
    # a later first training (no version to start from) reads it back from the bucket
    fetched.clear()
    state, summary = training.project_backbone(project, feature_config_for(project))
    assert summary == version.metrics["pretraining"] and "stem.0.weight" in state
    assert len(bucket.read(backbone)) in fetched
    # an export lands in the bucket too
    with django_capture_on_commit_callbacks(execute=True):
        res = client_for(lead).post(
            f"/api/projects/{project.pk}/exports/", {"format": "csv"}, format="json"
        )
    assert res.status_code == 202, res.json()
    assert len(bucket.keys("exports/")) == 1
    # deleting the project takes its originals, peaks, model and export out of the bucket
    with django_capture_on_commit_callbacks(execute=True):
        res = client_for(lead).delete(f"/api/projects/{project.pk}/?confirm={project.name}")
    assert res.status_code == 202, res.json()
    assert bucket.keys() == []


def test_the_ranged_reader_reads_what_a_whole_download_reads(bucket, fetched):
    import numpy as np
    from django.core.files.base import ContentFile

    from labelapp.media import MIN_FETCH, RangedObjectReader, media_open

    data = np.random.default_rng(0).bytes(9 * MIN_FETCH + 123)
    name = default_storage.save("tests/blob.bin", ContentFile(data))
    with media_open(name) as fh:
        assert isinstance(fh, RangedObjectReader)
        assert fh.read(10) == data[:10] and fh.tell() == 10
        assert fh.seek(-7, io.SEEK_END) == len(data) - 7
        assert fh.read(100) == data[-7:] and fh.read(5) == b""  # short only at the end
        fh.seek(MIN_FETCH - 3)
        assert fh.read(2 * MIN_FETCH) == data[MIN_FETCH - 3 : 3 * MIN_FETCH - 3]  # across spans
        fh.seek(1000)
        assert fh.read() == data[1000:]
        fh.seek(len(data) + 10)
        assert fh.read(1) == b""
    fetched.clear()
    with media_open(name) as fh:  # reading straight through: each GET twice the last
        while fh.read(4096):
            pass
    assert sum(fetched) == len(data) and fetched[:3] == [MIN_FETCH, 2 * MIN_FETCH, 4 * MIN_FETCH]
    default_storage.delete(name)
    with pytest.raises(FileNotFoundError):
        media_open(name)


def test_a_purge_empties_the_projects_prefixes_in_the_bucket_and_no_other(
    bucket, project, other_project
):
    """S3 has no folders: the purge lists each of the project's prefixes, nested ones too,
    and deletes what it finds, rows or not; another project's objects stay."""
    from django.core.files.base import ContentFile

    from labelapp.services.project_removal import MEDIA_FOLDERS, purge_rows

    mine = [
        f"clips/{project.pk}/ab/stray.wav",
        f"clips/{project.pk}/cd/ef/deeper.wav",
        f"peaks/{project.pk}/7.npz",
        f"models/{project.pk}/run-3.pt",
        f"exports/{project.pk}/e.csv",
    ]
    theirs = [f"{folder}/{other_project.pk}/keep.bin" for folder in MEDIA_FOLDERS]
    # a prefix that only starts like the project's id must stay too (project 1 vs 12)
    theirs.append(f"clips/{project.pk}0/keep.wav")
    for name in mine + theirs:
        assert default_storage.save(name, ContentFile(b"x")) == name
    assert bucket.keys() == sorted(mine + theirs)
    purge_rows(project)
    assert bucket.keys() == sorted(theirs)


@pytest.fixture
def s3_worker(bucket, tmp_path):
    """A real worker process (`running_worker`) whose store is the test's bucket: settings.py
    builds its S3 storage from the AWS_* environment the `bucket` fixture set, and its own media
    root may hold only the feature cache."""
    from django.conf import settings

    from tests.conftest import running_worker

    media = tmp_path / "worker-media"
    with running_worker(
        "earmark-s3",
        media,
        tmp_path / "worker.log",
        # this process's var dir (`bucket` points the variable at the test's own): the
        # file-system broker lives there when no CELERY_BROKER_URL is set
        EARMARK_VAR_DIR=str(settings.VAR_DIR),
        EARMARK_TRAIN_MIN_STEPS="20",  # a few seconds, not a real training
    ) as proc:
        proc.media_root = media
        yield proc


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(900)  # the waits below, on a slow machine, add up past the default 300 s
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_processes_trains_prelabels_and_purges_in_the_bucket(
    s3_worker, bucket, client_for, lead, annotator, project, wav_factory
):
    """The whole loop with the store remote and the worker a process of its own: uploads are
    processed by the worker from the bucket (peaks written back there), a training reads the
    clips' audio from the bucket and stores its model there, the pre-labeling loads that model
    from the bucket, and deleting the project empties the bucket."""
    from ml_backend.models import ModelVersion, Prediction, PrelabelRun, TrainingRun
    from tests.conftest import wait_for

    def worker_log() -> str:
        return s3_worker.log_path.read_text(errors="replace")[-3000:]

    files = _tone_project(project, wav_factory)
    res = _upload(client_for(lead), project.pk, *files)
    assert res.status_code == 201, res.json()
    wait_for(
        lambda: Clip.objects.filter(project=project, status__in=("ready", "failed")).count() == 12,
        timeout=120,
        message=lambda: "the worker did not process the uploads:\n" + worker_log(),
    )
    clips = list(Clip.objects.filter(project=project))
    assert {c.status for c in clips} == {"ready"}, [c.error for c in clips]
    assert bucket.keys("peaks/") == sorted(c.peaks_file for c in clips)  # the worker's output
    peaks = client_for(annotator).get(f"/api/clips/{clips[0].pk}/peaks?width=200")
    assert peaks.status_code == 200 and len(peaks.json()["max"]) == 200

    labeled = [c for c in clips if int("".join(filter(str.isdigit, c.original_name))) < 8]
    unlabeled = [c for c in clips if c not in labeled]
    for clip in labeled:
        kind = "low" if clip.original_name.startswith("low") else "high"
        res = client_for(annotator).post(
            f"/api/clips/{clip.pk}/annotations/", {"clip_labels": [f"tone/{kind}"]}, format="json"
        )
        assert res.status_code == 201, res.json()
    res = client_for(lead).post(f"/api/projects/{project.pk}/train/")
    assert res.status_code == 201, res.json()
    run_id = res.json()["id"]
    wait_for(
        lambda: TrainingRun.objects.get(pk=run_id).status in ("succeeded", "failed"),
        timeout=180,
        message=lambda: "the worker did not finish the training:\n" + worker_log(),
    )
    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == "succeeded", (run.error, run.log[-3000:])
    version = ModelVersion.objects.get(project=project, status="active")
    assert bucket.keys("models/") == [version.artifact_path]
    wait_for(
        lambda: PrelabelRun.objects.filter(
            project=project, model_version=version, status__in=("succeeded", "failed")
        ).exists(),
        timeout=120,
        message=lambda: "the worker did not pre-label with the new version:\n" + worker_log(),
    )
    prelabel = PrelabelRun.objects.get(project=project, model_version=version)
    assert prelabel.status == "succeeded", prelabel.error
    predictions = Prediction.objects.filter(model_version=version, clip__in=unlabeled)
    assert predictions.count() == 4
    # the worker read the audio from the bucket: its disk holds the feature cache and no media
    local = sorted(p.name for p in s3_worker.media_root.glob("*"))
    assert local == ["features"], local
    assert list((s3_worker.media_root / "features").rglob("*.npy"))

    res = client_for(lead).delete(f"/api/projects/{project.pk}/?confirm={project.name}")
    assert res.status_code == 202, res.json()
    wait_for(
        lambda: not bucket.keys(),
        timeout=120,
        message=lambda: "the worker's purge left objects in the bucket:\n" + worker_log(),
    )
