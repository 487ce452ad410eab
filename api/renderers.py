"""The API's JSON, safe to echo what a client sent."""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import JSONRenderer

# In JSON these bytes can only stand inside strings, and in UTF-8 never inside a multi-byte character: replacing
# them by their \u escapes keeps the same JSON for every parser.
_HTML_SIGNIFICANT = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"))


class HtmlSafeJSONRenderer(JSONRenderer):
    """JSON with `<`, `>` and `&` written as `\\u003c`, `\\u003e`, `\\u0026` (as Go's encoding/json and Django's
    `json_script` do). A problem may echo what the client sent (an unknown field's name, a refused choice): it comes
    back as the same JSON text, but never as markup, whatever a browser, a proxy or a log viewer takes the answer
    for. (Found by `make drill`'s bad_input.)"""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        content = super().render(data, accepted_media_type, renderer_context)
        for character, escaped in _HTML_SIGNIFICANT:
            content = content.replace(character, escaped)
        return content
