"""Validate requests and answers against the project's description of the Trifacta API.

The description is runner/platforms/trifacta/openapi.json; openapi-core checks paths,
methods, parameters, bodies, the bearer token and each answer's shape against it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = ROOT / "runner" / "platforms" / "trifacta" / "openapi.json"


def description() -> dict[str, Any]:
    data = json.loads(DESCRIPTION.read_text())
    assert isinstance(data, dict)
    return data


@functools.cache
def api_for(base: str) -> OpenAPI:
    data = description()
    data["servers"] = [{"url": base}]
    return OpenAPI.from_dict(data)


def _errors(iterator: Iterable[Exception]) -> list[str]:
    out = []
    for exc in iterator:
        causes = [exc]
        while causes[-1].__cause__ is not None:
            causes.append(causes[-1].__cause__)  # type: ignore[arg-type]
        out.append(" <- ".join(f"{type(e).__name__}: {e}" for e in causes))
    return out


def request_errors(base: str, request: requests.PreparedRequest) -> list[str]:
    wrapped = RequestsOpenAPIRequest(request)
    return _errors(api_for(base).iter_request_errors(wrapped))


def make_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = b"" if body is None else json.dumps(body).encode()
    if body is not None:
        response.headers["Content-Type"] = "application/json"
    response.headers.update(headers or {})
    return response


def response_errors(
    base: str, request: requests.PreparedRequest, response: requests.Response
) -> list[str]:
    wrapped = RequestsOpenAPIRequest(request)
    answer = RequestsOpenAPIResponse(response)
    return _errors(api_for(base).iter_response_errors(wrapped, answer))


def call_errors(base: str, calls: Iterable[Any]) -> list[str]:
    """Every problem of ``responses`` calls: the request, then the answer faked for it."""
    problems = []
    for call in calls:
        where = f"{call.request.method} {call.request.url}"
        problems += [f"{where}: request: {e}" for e in request_errors(base, call.request)]
        if isinstance(call.response, requests.Response):
            problems += [
                f"{where}: answer: {e}" for e in response_errors(base, call.request, call.response)
            ]
    return problems
