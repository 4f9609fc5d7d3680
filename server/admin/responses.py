"""The admin API's answers: JSON, never cached, errors as ``{"error": {code, message, …}}``."""

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server.admin.errors import status_for
from server.admin.guard import Admin
from server.errors import AppError
from server.http import NO_STORE

Handler = Callable[[Request, Admin], Awaitable[Response]]
Table = list[tuple[str, str, Handler]]  # (method, path under the prefix, handler)


def json_response(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)


def error_response(error: AppError) -> JSONResponse:
    status = status_for(error)
    response = json_response({"error": error.public()}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = f'Bearer error="{error.code}"'
    return response
