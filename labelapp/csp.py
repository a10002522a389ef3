"""Content-Security-Policy for the app's own pages.

Earmark's pages load only their own modules and styles, fetch only the app's API and play
audio the API streams, so a page's policy can forbid everything else: an injected
``<script>`` or ``onerror=`` does not run, and a page cannot be framed or post its forms
elsewhere. Inline ``style=""`` stays allowed (progress bars set their width that way).

The policy goes on HTML answers only. The Django admin and the REST framework's pages
(browsable API, Swagger UI) ship inline scripts of their own and keep Django's other
headers (X-Frame-Options, nosniff) without it.
"""

from __future__ import annotations

from django.conf import settings

DEFAULT_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
EXEMPT_PREFIXES = ("/admin/", "/api/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
        if (
            policy
            and "Content-Security-Policy" not in response.headers
            and response.headers.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(EXEMPT_PREFIXES)
            # Django's debug page for an error runs inline scripts of its own.
            and not (settings.DEBUG and response.status_code >= 500)
        ):
            response.headers["Content-Security-Policy"] = policy
        return response
