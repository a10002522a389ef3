"""Pages of the API's lists (`count`, `next`, `previous`, `results`, 50 a page, or
`?page_size=` up to 1,000).

DRF answered `?page=abc`, `?page=0` and a page past the end alike: 404 "Invalid page.". A page
that is not a page number is the client's mistake (400, saying what a page is); one past the
end is not there (404, saying how many there are)."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

from labelapp.errors import DomainError
from labelapp.lookups import plain_int


class Pages(PageNumberPagination):
    invalid_page_message = "there is no page {page_number} ({message})"
    # A client may ask for larger pages (`?page_size=500`: a pipeline listing thousands of
    # clips asked 20 times as often), up to 1,000; a size that is no number is a 400.
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not 1 <= (plain_int(raw) or 0) <= self.max_page_size:
            raise DomainError(
                f"page_size must be a whole number from 1 to {self.max_page_size}, not {raw!r}",
                code="invalid_page",
            )
        return super().get_page_size(request)

    def get_page_number(self, request, paginator):
        number = super().get_page_number(request, paginator)
        if number in self.last_page_strings:
            return number
        if (plain_int(number) or 0) < 1:
            raise DomainError(
                f"page must be a whole number from 1 (or 'last'), not {number!r}",
                code="invalid_page",
            )
        return number
