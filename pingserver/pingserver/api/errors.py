"""API errors: one JSON shape, `{"error": "<message>"}`, for every failure the API reports.

Validation messages follow healthchecks' templates: only the first problem is reported, as
"json validation error: <field> <reason>".
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException as StarletteHTTPException

# pydantic error type -> healthchecks reason (hc/api/views.py CUSTOM_ERRORS), plus our own.
REASONS = {
    "string_type": "is not a string",
    "string_too_long": "is too long",
    "string_too_short": "is too short",
    "string_pattern_mismatch": "does not match pattern",
    "less_than_equal": "is too large",
    "less_than": "is too large",
    "greater_than_equal": "is too small",
    "greater_than": "is too small",
    "too_large": "is too large",
    "too_small": "is too small",
    "too_short": "is too short",
    "too_long": "is too long",
    "int_type": "is not a number",
    "int_parsing": "is not a number",
    "int_from_float": "is not a number",
    "bool_type": "is not a boolean",
    "bool_parsing": "is not a boolean",
    "literal_error": "has unexpected value",
    "enum": "has unexpected value",
    "list_type": "is not an array",
    "dict_type": "is not an object",
    "missing": "is missing",
    "extra_forbidden": "is not a known field",
    "cron_syntax": "is not a valid cron or OnCalendar expression",
    "tz_syntax": "is not a valid timezone",
}

M = TypeVar("M", bound=BaseModel)

# Paths whose errors use the API's JSON shape; other paths (dashboard) keep FastAPI's.
API_PREFIXES = ("/api/", "/b/", "/badge/")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found() -> ApiError:
    return ApiError(404, "not found")


def describe(error: ErrorDetails, *, located: bool = False) -> str:
    """"<field> <reason>" for one pydantic error, in healthchecks' words. `located` errors
    (FastAPI's) start their location with where the value came from: query, path, header."""
    loc = [str(part) for part in error["loc"]][1 if located else 0:]
    subject = loc[0] if loc else "value"
    if len(loc) == 2 and loc[1].isdigit():
        subject = f"an item in '{subject}'"
    return f"{subject} {REASONS.get(error['type'], 'is not valid')}"


def validation_error(exc: ValidationError) -> ApiError:
    return ApiError(400, "json validation error: " + describe(exc.errors()[0]))


def validate(model: type[M], data: dict[str, Any], context: object = None) -> M:
    """`data` as a `model`, or the first problem as a 400 in healthchecks' words."""
    try:
        return model.model_validate(data, strict=True, context=context)
    except ValidationError as exc:
        raise validation_error(exc) from None


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Query and path parameters validated by FastAPI; request bodies are parsed by the
        # API itself, so any error here names a parameter.
        errors = exc.errors()
        detail = describe(errors[0], located=True) if errors else "request is not valid"
        return error_response(400, f"invalid parameter: {detail}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not request.url.path.startswith(API_PREFIXES):
            return await http_exception_handler(request, exc)
        return JSONResponse({"error": str(exc.detail).lower()}, status_code=exc.status_code,
                            headers=exc.headers)
