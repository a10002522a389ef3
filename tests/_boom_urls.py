"""A URL conf with a view that fails, and the app's error handlers (tests/test_request_id.py)."""

from django.urls import include, path


def boom(request):
    raise RuntimeError("a bug")


handler400 = "labelapp.requestid.bad_request"
handler500 = "labelapp.requestid.server_error"
urlpatterns = [
    path("boom/", boom),
    path("api/boom/", boom),
    path("", include("labelapp.urls")),
]
