from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from labelapp import api, urls_dashboard, urls_exports, urls_review, views
from labelapp.ratelimit import PasswordChangeDoneView, RateLimitedPasswordChangeView

handler400 = "labelapp.requestid.bad_request"
handler500 = "labelapp.requestid.server_error"

api_patterns = [
    path("projects/", api.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", api.ProjectDetailApi.as_view(), name="api-project"),
    path(
        "projects/<int:project_id>/members/",
        api.ProjectMembersApi.as_view(),
        name="api-project-members",
    ),
    path(
        "projects/<int:project_id>/clips/",
        api.ProjectUploadApi.as_view(),
        name="api-project-upload",
    ),
    path(
        "projects/<int:project_id>/imports/",
        api.ProjectImportJobsApi.as_view(),
        name="api-project-imports",
    ),
    path(
        "projects/<int:project_id>/label-imports/",
        api.ProjectLabelsImportApi.as_view(),
        name="api-project-label-imports",
    ),
    path("imports/<int:job_id>/", api.ImportJobDetailApi.as_view(), name="api-import"),
    path(
        "imports/<int:job_id>/not-sent/",
        api.ImportJobNotSentApi.as_view(),
        name="api-import-not-sent",
    ),
    path(
        "projects/<int:project_id>/clips/metadata-from-names/",
        api.ProjectClipsMetadataFromNamesApi.as_view(),
        name="api-project-clips-metadata-from-names",
    ),
    path(
        "projects/<int:project_id>/clips/retry-failed/",
        api.ProjectClipsRetryFailedApi.as_view(),
        name="api-project-clips-retry-failed",
    ),
    path(
        "projects/<int:project_id>/clips/delete/",
        api.ProjectClipsDeleteApi.as_view(),
        name="api-project-clips-delete",
    ),
    path("clips/", api.ClipListApi.as_view(), name="api-clips"),
    path("clips/<int:clip_id>/", api.ClipDetailApi.as_view(), name="api-clip"),
    path("clips/<int:clip_id>/audio", api.ClipAudioApi.as_view(), name="api-clip-audio"),
    path("clips/<int:clip_id>/playback", api.ClipPlaybackApi.as_view(), name="api-clip-playback"),
    path("clips/<int:clip_id>/peaks", api.ClipPeaksApi.as_view(), name="api-clip-peaks"),
    path(
        "clips/<int:clip_id>/spectrogram",
        api.ClipSpectrogramApi.as_view(),
        name="api-clip-spectrogram",
    ),
    path(
        "clips/<int:clip_id>/annotations/",
        api.ClipAnnotationsApi.as_view(),
        name="api-clip-annotations",
    ),
    path(
        "projects/<int:project_id>/next/",
        api.ProjectNextClipApi.as_view(),
        name="api-project-next",
    ),
    path(
        "clips/<int:clip_id>/workspace/",
        api.ClipWorkspaceApi.as_view(),
        name="api-clip-workspace",
    ),
    path("clips/<int:clip_id>/draft/", api.ClipDraftApi.as_view(), name="api-clip-draft"),
    path(
        "annotations/<int:annotation_id>/",
        api.AnnotationDetailApi.as_view(),
        name="api-annotation",
    ),
    path("clips/<int:clip_id>/lock/", api.ClipLockApi.as_view(), name="api-clip-lock"),
    path("clips/<int:clip_id>/skip/", api.ClipSkipApi.as_view(), name="api-clip-skip"),
    path("", include(urls_review.api_urlpatterns)),
    path("", include(urls_exports.api_urlpatterns)),
    path("", include(urls_dashboard.api_urlpatterns)),
    path("", include("ontology.urls")),
    path("", include("ml_backend.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    re_path(r"^.*$", api.ApiNotFoundApi.as_view(), name="api-not-found"),  # last
]

# Django's account pages without the password reset ones: with no mail server set up, a reset
# asked for anyone's account made the server try SMTP and answer as if it had sent mail.
# Site admins reset passwords (the admin, or `manage.py changepassword`).
account_patterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password_change/", RateLimitedPasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
]

urlpatterns = [
    path("", views.home, name="home"),
    # Answered by HealthCheckMiddleware before the host and scheme checks; named for reverse().
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("projects/<int:project_id>/", views.project_detail, name="project"),
    path("clips/<int:clip_id>/", views.clip_detail, name="clip"),
    path("clips/<int:clip_id>/annotate/", views.clip_annotate, name="clip-annotate"),
    path("projects/<int:project_id>/annotate/", views.project_annotate, name="project-annotate"),
    path("accounts/", include(account_patterns)),
    # The admin's own password page checks the old password too: limited as the others are.
    path(
        "admin/password_change/",
        RateLimitedPasswordChangeView.as_view(success_url="/accounts/password_change/done/"),
    ),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("ml/", include("ml_backend.ls_urls")),
    path("", include(urls_review.page_urlpatterns)),
    path("", include(urls_exports.page_urlpatterns)),
    path("", include(urls_dashboard.page_urlpatterns)),
    path("", include("ontology.page_urls")),
    path("", include("ml_backend.page_urls")),
]
