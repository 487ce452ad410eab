"""The API's JSON parser: DRF's, with a body nested deeper than the decoder can follow answered as a parse error.

`'[' * 100000 + ']' * 100000` made json.loads raise RecursionError, which DRF does not catch: a 500 (issue 17)."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
