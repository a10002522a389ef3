"""Label Studio ML-backend routes, mounted at /ml/ (with or without a project id)."""

from django.urls import path, re_path

from ml_backend import label_studio as ls

urlpatterns = []
for prefix, suffix in (("", ""), ("<int:project_id>/", "-project")):
    urlpatterns += [
        path(f"{prefix}health", ls.MlHealthApi.as_view(), name=f"ml-health{suffix}"),
        path(f"{prefix}setup", ls.MlSetupApi.as_view(), name=f"ml-setup{suffix}"),
        path(f"{prefix}predict", ls.MlPredictApi.as_view(), name=f"ml-predict{suffix}"),
        path(f"{prefix}webhook", ls.MlWebhookApi.as_view(), name=f"ml-webhook{suffix}"),
        path(f"{prefix}versions", ls.MlVersionsApi.as_view(), name=f"ml-versions{suffix}"),
    ]
urlpatterns.append(re_path(r"^.*$", ls.MlNotFoundApi.as_view(), name="ml-not-found"))
