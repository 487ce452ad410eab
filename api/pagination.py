from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    """Cursor pages: no COUNT, constant cost at any depth (the log has millions of rows)."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-id"

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:  # a mangled cursor is bad input, not a missing page
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None


def cursor(ordering: str) -> type[Cursor]:
    """A cursor pagination on one unique, indexed column."""
    return type(f"Cursor_{ordering.strip('-')}", (Cursor,), {"ordering": ordering})
