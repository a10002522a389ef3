"""The REST API: thin views. Input serializers validate, services act, output serializers answer."""

from __future__ import annotations

import contextlib

import soundfile as sf
from django.contrib.auth import get_user_model
from django.db.models import CharField, Count, OuterRef, Subquery, Value
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from labelapp import selectors
from labelapp.audio import peaks_window, render_spectrogram_png, spectrum
from labelapp.audio.playback import PcmWavFile, fits_wav, plays_as_stored
from labelapp.errors import MEDIA_RETRY_AFTER_S, DomainError, NotFound
from labelapp.exports.common import bool_option
from labelapp.lookups import plain_int
from labelapp.media import MediaUnavailable, media_open
from labelapp.models import Clip, ImportJob, Membership, Project
from labelapp.parsers import JSONParser
from labelapp.schema import error_schema
from labelapp.serializers import (
    AnnotationOutSerializer,
    AnnotationSubmitSerializer,
    AnnotationSubmittedSerializer,
    ClipLockInSerializer,
    ClipLockSerializer,
    ClipsDeletedSerializer,
    ClipsDeleteSerializer,
    ClipSerializer,
    DraftSerializer,
    ImportJobCreateSerializer,
    ImportJobNotSentSerializer,
    ImportJobSerializer,
    LabelsImportSerializer,
    MembershipInputSerializer,
    MetadataFromNamesSerializer,
    PeaksQuerySerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    SkippedSerializer,
    SkipSerializer,
    SpectrogramQuerySerializer,
    UploadedSerializer,
    UploadSerializer,
    WorkspaceSerializer,
)
from labelapp.serializers_review import MemberSerializer
from labelapp.services import annotations as annotation_services
from labelapp.services import clip_metadata as metadata_services
from labelapp.services import clip_removal as removal_services
from labelapp.services import clip_search, label_imports, project_removal
from labelapp.services import imports as import_services
from labelapp.services import projects as project_services
from labelapp.services import queue as queue_services
from labelapp.services.clips import (
    clip_peaks_answer_outdated,
    clip_peaks_refresh_soon,
    clip_spectrum_soon,
    clips_retry_failed,
)
from labelapp.streaming import CONTENT_TYPES, ranged_response
from labelapp.strict import no_body
from labelapp.uploads import NameKeepingMultiPartParser, raw_names
from ml_backend.audio_read import is_mp3

User = get_user_model()
LEAD_ONLY = (selectors.LEAD,)


def _with_roles(qs, user):
    """`my_role`: what the user may do there. A site admin acts as a lead in every project,
    a member's role aside (one added as an annotator was answered "annotator")."""
    if user.is_superuser:
        role = Value(Membership.Role.LEAD, output_field=CharField())
    else:
        role = Subquery(
            Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
        )
    return qs.annotate(my_role=role, clip_count=Count("clips", distinct=True))


class ProjectListApi(APIView):
    @extend_schema(responses=ProjectSerializer(many=True))
    def get(self, request):
        qs = _with_roles(selectors.projects_for_user(request.user), request.user)
        return Response(ProjectSerializer(qs.order_by("name"), many=True).data)

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer})
    def post(self, request):
        if not selectors.can_create_projects(request.user):
            raise DomainError(
                "only a site admin or a project's lead creates projects: ask a site admin, or "
                "the lead of one of your projects",
                status=403,
                code="permission_denied",
            )
        data = ProjectCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_services.project_create(created_by=request.user, **data.validated_data)
        # As the list and the detail answer it (role and clip_count included).
        project = _with_roles(Project.objects.filter(pk=project.pk), request.user).get()
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectSerializer)
    def get(self, request, project_id: int):
        project = selectors.project_for_user(request.user, project_id)
        project = _with_roles(Project.objects.filter(pk=project.pk), request.user).get()
        return Response(ProjectSerializer(project).data)

    @extend_schema(request=ProjectUpdateSerializer, responses=ProjectSerializer)
    def patch(self, request, project_id: int):
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        data = ProjectUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project_services.project_update(project=project, **data.validated_data)
        project = _with_roles(Project.objects.filter(pk=project.pk), request.user).get()
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "confirm", str, required=True, description="The project's name, to confirm."
            )
        ],
        responses={202: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def delete(self, request, project_id: int):
        """Delete the project (lead): it is gone for everyone at once (404), and a worker
        removes its clips, annotations, models and exports with their files. `confirm` must
        be the project's name."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        name = project.name
        project_removal.project_delete_request(
            project=project, confirm=request.query_params.get("confirm", "")
        )
        return Response(
            {"detail": f"project {name!r} deleted; its files are being removed", "id": project_id},
            status=status.HTTP_202_ACCEPTED,
        )


class ProjectMembersApi(APIView):
    @extend_schema(responses=MemberSerializer(many=True))
    def get(self, request, project_id: int):
        """The members; `user_id` is the id /members/<user_id>/ takes (`id` is the
        membership's)."""
        project = selectors.project_for_user(
            request.user, project_id, (selectors.LEAD, selectors.REVIEWER)
        )
        qs = project.memberships.select_related("user").order_by("user__username")
        return Response(MemberSerializer(qs, many=True).data)

    @extend_schema(request=MembershipInputSerializer, responses={201: MemberSerializer})
    def post(self, request, project_id: int):
        """Add a user by username (leads only); an existing member is a 409 (their role is
        changed with PATCH /members/<user_id>/). A username with no account gets one with the
        `password` given (its owner chooses their own at their first sign-in)."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        data = MembershipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = project_services.membership_invite(
            project=project,
            username=data.validated_data["username"],
            role=data.validated_data["role"],
            password=data.validated_data.get("password", ""),
            by=request.user,
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


@extend_schema(
    parameters=[
        OpenApiParameter("project", int, description="Only clips of this project."),
        OpenApiParameter("status", str, enum=Clip.Status.values),
        OpenApiParameter("q", str, description="With `project`: the name contains this."),
        OpenApiParameter("labeled", str, enum=["yes", "no"], description="With `project`."),
        OpenApiParameter(
            "label",
            str,
            description="With `project` (reviewers and leads): a submitted or accepted "
            "annotation gives the clip this label or one of its children (a path or a name).",
        ),
        OpenApiParameter(
            "annotator", str, description="With `project` (reviewers and leads): a username."
        ),
        OpenApiParameter(
            "ordering", str, enum=list(clip_search.ORDERINGS), description="With `project`."
        ),
    ]
)
class ClipListApi(ListAPIView):
    serializer_class = ClipSerializer

    def get_queryset(self):
        params = self.request.query_params
        project = params.get("project")
        if project is not None:
            project = selectors.project_for_user(self.request.user, _id_param(project, "project"))
            query = clip_search.clip_query_build(project, self.request.user, params)
            return clip_search.clips_searched(project, query)
        searched = sorted(set(clip_search.FILTERS) - {"status"} & set(params))
        if searched:
            raise DomainError(
                f"{', '.join(searched)}: give the project too (?project=<id>)",
                code="invalid_filter",
            )
        qs = selectors.clips_for_user(self.request.user)
        clip_status = params.get("status")
        if clip_status:
            if clip_status not in Clip.Status.values:
                raise DomainError(
                    f"unknown status {clip_status!r}; one of {', '.join(Clip.Status.values)}"
                )
            qs = qs.filter(status=clip_status)
        return qs.order_by("id")


class ClipDetailApi(APIView):
    @extend_schema(responses=ClipSerializer)
    def get(self, request, clip_id: int):
        return Response(ClipSerializer(selectors.clip_for_user(request.user, clip_id)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "force",
                bool,
                description="Also when the clip holds annotations, a draft or a live lock.",
            )
        ],
        responses={204: None, 409: OpenApiTypes.OBJECT},
    )
    def delete(self, request, clip_id: int):
        """Delete a clip with its stored files (lead). A clip holding someone's work
        (annotations, a draft, an annotator labeling it now) answers 409 unless `force`."""
        clip = selectors.clip_for_user(request.user, clip_id, LEAD_ONLY)
        force = bool_option(request.query_params.get("force", ""), "force")
        removal_services.clip_delete(clip=clip, force=force)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectClipsRetryFailedApi(APIView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, project_id: int):
        """Send every failed clip of the project back to processing (lead): after the media
        store is back, a missing decoder installed, or a file fixed in place. Answers
        `{"retried": N}`; a clip that still cannot be read fails again with its reason."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        no_body(request)
        return Response({"retried": clips_retry_failed(project=project)})


class ProjectClipsDeleteApi(APIView):
    @extend_schema(request=ClipsDeleteSerializer, responses=ClipsDeletedSerializer)
    def post(self, request, project_id: int):
        """Delete many clips of a project (lead): by `ids`, by `status` (say `failed`), or
        both. Each clip is reported: deleted, or refused with the reason (it holds someone's
        work and `force` is off, or it is not a clip of this project). At most 5,000 clips
        a call: when `more`, send the same request again with `after` = `last_id`."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        data = ClipsDeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        removal = removal_services.clips_delete(project=project, **data.validated_data)
        return Response(ClipsDeletedSerializer(removal).data)


class ProjectClipsMetadataFromNamesApi(APIView):
    @extend_schema(request=MetadataFromNamesSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int):
        """Set clip metadata from the clips' file names (lead): each field of `pattern` in
        every clip whose name matches it, other fields kept. `{fields, matched, unmatched,
        changed, matched_examples, unmatched_examples}`; with `dry_run`, nothing is changed."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        data = MetadataFromNamesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = metadata_services.clips_metadata_from_names(
            project=project,
            pattern=data.validated_data["pattern"],
            dry_run=data.validated_data["dry_run"],
        )
        return Response(report.as_dict())


class ProjectUploadApi(APIView):
    parser_classes = [NameKeepingMultiPartParser]

    @extend_schema(
        request={"multipart/form-data": UploadSerializer},
        # 400: the import job with its per-file report when every file was rejected, or
        # {detail, code} when the request itself was wrong (no files); 503: the same report
        # when the media store did not answer (send them again later).
        responses={201: UploadedSerializer, 400: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
    )
    def post(self, request, project_id: int):
        """Upload audio files. Each file is reported on its own; the batch goes on after a bad
        file. 201 when at least one file was imported or was a duplicate, 400 when none was."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        files = request.FILES.getlist("files")
        if not files:
            raise DomainError("no files: send them as multipart field 'files'")
        job_id = request.data.get("import_job")
        if job_id:
            job = selectors.import_job_for_user(request.user, _id_param(job_id, "import_job"))
            if job.project_id != project.pk:
                raise NotFound("import job not found")
            if job.status != ImportJob.Status.RUNNING:
                raise DomainError("this import job is finished; start a new one")
        else:
            job = import_services.import_job_create(
                project=project, user=request.user, source=ImportJob.Source.API, total=len(files)
            )
        names = raw_names(request)
        items = (
            import_services.ImportItem(name=names.get(u.name, u.name), fileobj=u) for u in files
        )
        try:
            outcomes = list(import_services.clip_imports(items, project=project, job=job))
        except Exception:
            # A bug in one file's handling: the request's own job does not stay "running"
            # on the project page for good (the browser's job is closed by the browser).
            if not job_id:
                import_services.import_job_finish(
                    job, error="the import failed on the server: see its log"
                )
            raise
        if job_id:  # the browser's job: other requests add to it at the same time
            job = import_services.import_job_add(job, outcomes)
        else:
            for outcome in outcomes:
                import_services.import_job_record(job, outcome, save=False)
            import_services.import_job_finish(job)
        ok = any(o.status in ("imported", "duplicate") for o in outcomes)
        body = ImportJobSerializer(job).data
        body["files"] = [o.as_dict() for o in outcomes]
        if not ok and any(o.store_unavailable for o in outcomes):
            # Nothing was wrong with the files: the media store did not answer. A 503 that a
            # client retries later, not a 400 that reads as bad files.
            return Response(
                body,
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(MEDIA_RETRY_AFTER_S)},
            )
        return Response(body, status=status.HTTP_201_CREATED if ok else status.HTTP_400_BAD_REQUEST)


class ProjectImportJobsApi(APIView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(responses=ImportJobSerializer(many=True))
    def get(self, request, project_id: int):
        project = selectors.project_for_user(request.user, project_id)
        return Response(ImportJobSerializer(project.import_jobs.all()[:50], many=True).data)

    @extend_schema(request=ImportJobCreateSerializer, responses={201: ImportJobSerializer})
    def post(self, request, project_id: int):
        """Open an import job that browser uploads then add files to, one request per file."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        data = ImportJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = import_services.import_job_create(
            project=project,
            user=request.user,
            source=ImportJob.Source.UPLOAD,
            total=data.validated_data["total"],
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)


class ProjectLabelsImportApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": LabelsImportSerializer},
        responses={202: ImportJobSerializer},
    )
    def post(self, request, project_id: int):
        """Labels for clips already in the project, from a CSV manifest or a Raven selection
        table that names them by file name. The file is checked now (a 400 says what is
        wrong with it); its clips are labeled by the worker: follow the import job."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        data = LabelsImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        job = label_imports.labels_import_start(
            project=project,
            user=request.user,
            name=upload.name,
            data=upload.read(label_imports.MAX_LABELS_FILE_BYTES + 1),
            create_labels=data.validated_data["create_labels"],
            suggestions_from=data.validated_data["suggestions_from"],
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailApi(APIView):
    @extend_schema(responses=ImportJobSerializer)
    def get(self, request, job_id: int):
        return Response(
            ImportJobSerializer(selectors.import_job_for_user(request.user, job_id)).data
        )


class ImportJobNotSentApi(APIView):
    @extend_schema(request=ImportJobNotSentSerializer, responses=ImportJobSerializer)
    def post(self, request, job_id: int):
        """Files of a browser upload that never reached the server: recorded as not sent, so
        that the job finishes instead of waiting for them."""
        job = selectors.import_job_for_user(request.user, job_id)
        selectors.project_for_user(request.user, job.project_id, LEAD_ONLY)
        data = ImportJobNotSentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = import_services.import_job_not_sent(job, data.validated_data["files"])
        return Response(ImportJobSerializer(job).data)


class ClipAudioApi(APIView):
    @extend_schema(
        responses={(200, "audio/*"): OpenApiTypes.BINARY, (206, "audio/*"): OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("Range", str, OpenApiParameter.HEADER)],
    )
    def get(self, request, clip_id: int):
        """The original file, untouched, with HTTP Range support (206 Partial Content)."""
        return _original_audio(request, selectors.clip_for_user(request.user, clip_id))


def _audio_file(clip: Clip):
    try:
        return media_open(clip.file.name)
    except MediaUnavailable:
        raise
    except OSError:
        raise NotFound("the audio file of this clip is missing from the media store") from None


def _original_audio(request, clip: Clip):
    ext = clip.file.name.rsplit(".", 1)[-1]
    return ranged_response(
        request,
        _audio_file(clip),
        size=clip.size_bytes,
        content_type=CONTENT_TYPES.get(clip.format.upper(), "application/octet-stream"),
        etag=clip.sha256,
        filename=f"clip-{clip.pk}.{ext}",
    )


class ClipPlaybackApi(APIView):
    @extend_schema(
        responses={(200, "audio/*"): OpenApiTypes.BINARY, (206, "audio/*"): OpenApiTypes.BINARY},
        parameters=[OpenApiParameter("Range", str, OpenApiParameter.HEADER)],
        summary="A clip's audio for playing in a browser",
    )
    def get(self, request, clip_id: int):
        """What the workspace and the clip and review pages play, with HTTP Range support: the
        original file where browsers seek in it exactly (PCM or float WAV, FLAC, Opus), else
        the same audio as 16-bit PCM WAV, decoded for the bytes asked (MP3, whose VBR seeks
        Chromium lands up to 0.9 s off; Ogg Vorbis; AIFF and what else a browser cannot
        play). `/audio` is the original, always."""
        clip = selectors.clip_for_user(request.user, clip_id)
        frames = clip.frames  # the probe's count, as the waveform and the duration have it
        if (
            clip.status != Clip.Status.READY
            or plays_as_stored(clip.format, clip.codec)
            or not frames
            or not fits_wav(frames, clip.channels or 1)
        ):
            return _original_audio(request, clip)
        fileobj = _audio_file(clip)
        try:
            snd = sf.SoundFile(fileobj)
        except (sf.LibsndfileError, RuntimeError) as exc:
            fileobj.close()
            raise DomainError(
                f"the clip's audio cannot be decoded for playing ({exc})",
                status=409,
                code="undecodable",
            ) from None
        wav = PcmWavFile(snd, frames, on_close=fileobj.close)
        return ranged_response(
            request,
            wav,
            size=wav.size,
            content_type="audio/wav",
            etag=f"{clip.sha256}-pcm16",
            filename=f"clip-{clip.pk}.wav",
            # libmpg123's output after a seek depends, by 1e-8, on what it decoded before:
            # a range's samples can round one off from a whole read's.
            weak=is_mp3(snd),
        )


def _id_param(value, name: str) -> int:
    """An id given in a query or form field: "abc" is a 400 that says so, not a 404 "not
    found" as if an id had been looked up."""
    text = str(value).strip()
    if (pk := plain_int(text)) is None:
        raise DomainError(f"{name} must be an id (a whole number), not {text[:40]!r}")
    return pk


def _window(clip: Clip, params: dict) -> tuple[float, float]:
    start = min(params["start"], clip.duration)
    end = min(params.get("end") or clip.duration, clip.duration)
    if end <= start:
        asked = (
            f"{params['start']:g}-{params['end']:g}"
            if params.get("end")
            else f"from {params['start']:g}"
        )
        # The times asked for, not the ones cut to the clip ("0.6435-0.6435 s" for 5-6 s).
        raise DomainError(f"the window {asked} s is outside the clip (0-{clip.duration:.3f} s)")
    return start, end


class ClipPeaksApi(APIView):
    @extend_schema(parameters=[PeaksQuerySerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request, clip_id: int):
        """Min/max waveform peaks for a time window: `width` buckets, each [min, max] in
        [-1, 1] over all channels; with `per_channel`, each channel's too. Reads only the
        window's bytes of the precomputed peaks, or, zoomed in beyond them, only the window's
        samples."""
        clip = selectors.clip_for_user(request.user, clip_id)
        params = PeaksQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        if clip.status != Clip.Status.READY or not clip.peaks_file:
            raise DomainError(
                f"the clip is {clip.status}; peaks are computed after processing",
                status=409,
                code="not_ready",
            )
        start, end = _window(clip, params.validated_data)
        with (
            _peaks_open(clip) as peaks,
            _audio_file(clip) as audio,
        ):
            try:
                per_channel = params.validated_data["per_channel"]
                body = peaks_window(
                    peaks,
                    audio,
                    start=start,
                    end=end,
                    width=params.validated_data["width"],
                    per_channel=per_channel,
                )
                outdated = per_channel and clip_peaks_answer_outdated(clip, body)
            except ValueError as exc:
                raise DomainError(str(exc)) from None
        if outdated:  # drawn as one envelope this time; per channel once rewritten
            clip_peaks_refresh_soon(clip)
        body["duration"] = clip.duration
        response = Response(body)
        # One envelope now, each channel's once a worker rewrote the peaks: not kept for a day.
        response["Cache-Control"] = "private, no-cache" if outdated else "private, max-age=86400"
        return response


def _peaks_open(clip: Clip):
    """The clip's peaks file, opened. A worker rewriting old peaks (`clip_peaks_refresh`)
    deletes the old file once the row names the new one, maybe after this request read the
    row: the row is read again for the new name. 404 when there is no file."""
    try:
        return media_open(clip.peaks_file)
    except FileNotFoundError:
        fresh = Clip.objects.filter(pk=clip.pk).values_list("peaks_file", flat=True).first()
        if fresh and fresh != clip.peaks_file:
            clip.peaks_file = fresh
            with contextlib.suppress(FileNotFoundError):
                return media_open(fresh)
    raise NotFound("the peaks file of this clip is missing from the media store")


@contextlib.contextmanager
def _spectrum_open(clip: Clip):
    """The clip's spectral overview opened, or None: a long clip without one (processed before
    overviews, or its overview failed) asks a worker for it, and is sampled meanwhile."""
    fh = None
    if clip.spectrum_file:
        with contextlib.suppress(FileNotFoundError):  # lost from the store: made again
            fh = media_open(clip.spectrum_file)
    if fh is None:
        clip_spectrum_soon(clip)
        yield None
        return
    with fh:
        yield fh


class ClipSpectrogramApi(APIView):
    @extend_schema(
        parameters=[SpectrogramQuerySerializer], responses={(200, "image/png"): OpenApiTypes.BINARY}
    )
    def get(self, request, clip_id: int):
        """A PNG spectrogram of a time window (bounded work whatever the window's length)."""
        clip = selectors.clip_for_user(request.user, clip_id)
        params = SpectrogramQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        if clip.status != Clip.Status.READY:
            raise DomainError(f"the clip is {clip.status}", status=409, code="not_ready")
        start, end = _window(clip, params.validated_data)
        # A missing original: 404 as for its audio and peaks (it was a 500 page).
        with _audio_file(clip) as audio, _spectrum_open(clip) as overview:
            try:
                png = render_spectrogram_png(
                    audio,
                    start=start,
                    end=end,
                    width=params.validated_data["width"],
                    height=params.validated_data["height"],
                    scale=params.validated_data["scale"],
                    max_freq=params.validated_data["max_freq"],
                    min_freq=params.validated_data["min_freq"],
                    overview=overview,
                )
            except ValueError as exc:
                raise DomainError(str(exc)) from None
            sampled = overview is None and spectrum.wanted(clip.duration)
        response = HttpResponse(png, content_type="image/png")
        # A long clip's view drawn before its overview exists: not kept for a day.
        response["Cache-Control"] = "private, no-cache" if sampled else "private, max-age=86400"
        return response


class AnnotationDetailApi(APIView):
    @extend_schema(responses=AnnotationOutSerializer)
    def get(self, request, annotation_id: int):
        """One annotation: your own, or any of a project you review or lead."""
        annotation, _ = selectors.annotation_for_user(request.user, annotation_id)
        return Response(AnnotationOutSerializer(annotation).data)

    @extend_schema(responses={204: None, 403: error_schema(), 409: error_schema()})
    def delete(self, request, annotation_id: int):
        """Delete an annotation: your own (409 `accepted` once a reviewer accepted it), or any
        of a project you lead. Its history goes with it; the clip's history says who deleted
        whose annotation and what it said."""
        annotation, role = selectors.annotation_for_user(request.user, annotation_id)
        no_body(request)
        annotation_services.annotation_delete(
            annotation=annotation, user=request.user, is_lead=role == selectors.LEAD
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClipAnnotationsApi(APIView):
    @extend_schema(responses=AnnotationOutSerializer(many=True))
    def get(self, request, clip_id: int):
        clip = selectors.clip_for_user(request.user, clip_id)
        role = selectors.role_in_project(request.user, clip.project)
        qs = annotation_services.annotations_visible_to(request.user, clip, role)
        return Response(AnnotationOutSerializer(qs, many=True).data)

    @extend_schema(
        request=AnnotationSubmitSerializer,
        responses={201: AnnotationSubmittedSerializer, 200: AnnotationSubmittedSerializer},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Saves this submission at most once: a retry with the same key "
                "answers 200 with the saved annotation. Safe to retry after a 503.",
            )
        ],
        summary="Submit your annotation of a clip",
    )
    def post(self, request, clip_id: int):
        """Save your annotation of the clip in one transaction: clip labels and segments by label
        path (or id), checked against the project's rules; segments snap to 10 ms. 201 when it
        is new, 200 when it replaces your earlier one; 409 (`code: stale`) when
        `expected_version` is not the stored version: nothing is overwritten. With `claim_next`
        the answer carries your next clip (locked to you) so the workspace can show it at once.
        With an `Idempotency-Key` a retried submission is answered from the first one (200)."""
        clip = selectors.clip_for_user(request.user, clip_id)
        data = AnnotationSubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        annotation = annotation_services.annotation_submit(
            clip=clip,
            user=request.user,
            clip_labels=v["clip_labels"],
            segments=v["segments"],
            expected_version=v["expected_version"],
            lead_time=v["lead_time"],
            suggestion_feedback=v["suggestion_feedback"],
            idempotency_key=(
                request.headers.get("Idempotency-Key", "").strip() or v["idempotency_key"]
            ),
            replace_reviewed=v["replace_reviewed"],
            only_if_needed=v["only_if_needed"],
            unsure=v["unsure"],
            note=v["note"],
        )
        replayed = getattr(annotation, "replayed", False)
        if replayed:  # the first delivery's annotation, read back
            annotation = (
                clip.annotations.filter(pk=annotation.pk)
                .select_related("annotator")
                .prefetch_related("clip_labels__label", "segments__segment_labels__label")
                .get()
            )
        else:  # what was just written, content included: nothing to read back
            annotation.annotator = request.user
        body = {"annotation": AnnotationOutSerializer(annotation).data}
        if v["claim_next"]:
            body["next"] = _next_for(clip.project, request.user)
        # Not "version 1": the same labels sent again leave version 1 as it was (a 201 said
        # something had been created).
        created = not replayed and annotation.version == 1 and annotation.labels_changed
        response = Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


# --- Annotation workspace (issue 4) ---------------------------------------------------------


def _workspace(clip: Clip, user) -> dict:
    return WorkspaceSerializer(selectors.clip_workspace(clip, user)).data


def _next_for(project: Project, user) -> dict | None:
    clip = queue_services.clip_next_claim(project=project, user=user)
    return None if clip is None else _workspace(clip, user)


class ProjectNextClipApi(APIView):
    @extend_schema(
        request=None,
        responses={200: WorkspaceSerializer, 204: None},
        summary="Hand out your next clip",
    )
    def post(self, request, project_id: int):
        """The next clip of the project's queue for you, locked to you for the project's lock
        time (re-asking renews it and returns the same clip until you submit or skip it).
        Order: the model's priority once one ranks the queue, then import order. 204 when
        nothing is left for you."""
        no_body(request)
        project = selectors.project_for_user(request.user, project_id)
        body = _next_for(project, request.user)
        if body is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(body)


class ClipWorkspaceApi(APIView):
    @extend_schema(responses=WorkspaceSerializer)
    def get(self, request, clip_id: int):
        """One clip as the workspace loads it (no lock is taken)."""
        clip = selectors.clip_for_user(request.user, clip_id)
        return Response(_workspace(clip, request.user))


class ClipLockApi(APIView):
    @extend_schema(
        request=ClipLockInSerializer,
        responses=ClipLockSerializer,
        summary="Keep your place on a clip",
    )
    def post(self, request, clip_id: int):
        """The workspace's heartbeat while you work on a clip: renews your lock on it, or takes
        one where it lapsed and the clip has room (with `take` false: only says whether the
        clip is full). `full`: the clip has every annotation the project wants without yours
        (a submission still saves, one more); `needed: false`: you have an annotation of it
        already (an edit takes no place)."""
        clip = selectors.clip_for_user(request.user, clip_id)
        data = ClipLockInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        kept = queue_services.clip_lock_keep(
            clip=clip, user=request.user, take=data.validated_data["take"]
        )
        return Response(ClipLockSerializer(kept).data)


class ClipDraftApi(APIView):
    @extend_schema(responses={200: DraftSerializer, 204: None})
    def get(self, request, clip_id: int):
        clip = selectors.clip_for_user(request.user, clip_id)
        draft = clip.drafts.filter(user=request.user).first()
        if draft is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(DraftSerializer(draft).data)

    @extend_schema(request=DraftSerializer, responses=DraftSerializer)
    def put(self, request, clip_id: int):
        """Autosave your work in progress (stored as sent; validated only at submit)."""
        clip = selectors.clip_for_user(request.user, clip_id)
        data = DraftSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        draft = annotation_services.annotation_draft_save(
            clip=clip, user=request.user, **data.validated_data
        )
        return Response(DraftSerializer(draft).data)

    @extend_schema(responses={204: None})
    def delete(self, request, clip_id: int):
        clip = selectors.clip_for_user(request.user, clip_id)
        annotation_services.annotation_draft_delete(clip=clip, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClipSkipApi(APIView):
    @extend_schema(request=SkipSerializer, responses=SkippedSerializer)
    def post(self, request, clip_id: int):
        """Pass on this clip: it leaves your queue and its lock is released."""
        clip = selectors.clip_for_user(request.user, clip_id)
        data = SkipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation_services.annotation_skip(
            clip=clip, user=request.user, lead_time=data.validated_data["lead_time"]
        )
        body = {}
        if data.validated_data["claim_next"]:
            body["next"] = _next_for(clip.project, request.user)
        return Response(body)


class ApiNotFoundApi(APIView):
    """Any other path under /api/: a JSON 404 for everyone (it was Django's HTML page, with
    DEBUG on its debug page), naming the route with a slash when that is one."""

    permission_classes = [AllowAny]
    authentication_classes = []
    schema = None  # not an endpoint

    def _answer(self, request, *args, **kwargs):
        from django.urls import Resolver404, resolve

        detail = f"no such API route: {request.path}"
        if not request.path.endswith("/"):
            try:
                match = resolve(request.path + "/")
            except Resolver404:
                match = None
            if match is not None and match.url_name != "api-not-found":
                detail += f"; did you mean {request.path}/ ?"
        detail += " (the routes are listed at /api/docs/)"
        return Response({"detail": detail, "code": "not_found"}, status=404)

    get = post = put = patch = delete = _answer
