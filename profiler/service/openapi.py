"""An OpenAPI 3.1 description of the API, served at GET /api/openapi.json (token required).

The request body schema is generated from the same pydantic model that validates requests,
so the description cannot drift from what the service accepts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from profiler import __version__
from profiler.service.jobs import STATUSES
from profiler.service.schemas import ProfileRequest

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    app.add_routes(routes)


def _error(desc: str) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/Error"}
    return {"description": desc, "content": {"application/json": {"schema": ref}}}


def _ok(desc: str, ctype: str = "application/json") -> dict[str, Any]:
    return {"description": desc, "content": {ctype: {}}}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
AUTH_ERRORS = {"401": _error("missing or wrong bearer token")}


def spec() -> dict[str, Any]:
    body = ProfileRequest.model_json_schema()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tee-llm-prof service",
            "version": __version__,
            "description": "Submit TEE-overhead profiles of the models in the service's "
            "models.yaml, follow them, cancel them, and fetch their results. Every /api route "
            "needs `Authorization: Bearer <token>`.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ProfileRequest": body,
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}},
                    "required": ["error"],
                },
                "Job": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "model": {"type": "string"},
                        "status": {"type": "string", "enum": list(STATUSES)},
                        "progress": {"type": ["object", "null"]},
                        "reason": {"type": ["string", "null"]},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/profiles": {
                "post": {
                    "summary": "Submit a profile (model key + workload overrides)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ProfileRequest"}
                            }
                        },
                    },
                    "responses": {
                        "202": _ok("queued; body has the id"),
                        "400": _error("bad JSON, unknown key, a URL, or an unknown model"),
                        "413": _error("body too large"),
                        **AUTH_ERRORS,
                    },
                },
                "get": {
                    "summary": "List profiles, newest first",
                    "parameters": [
                        {"name": "status", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": list(STATUSES)}}
                    ],
                    "responses": {"200": _ok("the jobs"), **AUTH_ERRORS},
                },
            },
            "/api/profiles/{id}": {
                "parameters": [ID],
                "get": {
                    "summary": "Status, progress and overheads of one profile",
                    "responses": {"200": _ok("the job"), "404": _error("no such profile"),
                                  **AUTH_ERRORS},
                },
                "delete": {
                    "summary": "Cancel; what was measured is kept, marked incomplete",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": _ok("cancelled before it started"),
                        "202": _ok("running: the profile is being interrupted"),
                        "404": _error("no such profile"),
                        "409": _error("the profile already ended"),
                        **AUTH_ERRORS,
                    },
                },
            },
            "/api/profiles/{id}/log": {
                "parameters": [ID],
                "get": {"summary": "The profile's output", "responses": {
                    "200": _ok("text", "text/plain"), **AUTH_ERRORS}},
            },
            "/api/runs/{id}": {
                "parameters": [ID],
                "get": {"summary": "A profile or run directory: metadata and files",
                        "responses": {"200": _ok("metadata"), "404": _error("not found"),
                                      **AUTH_ERRORS}},
            },
            "/api/runs/{id}/report": {
                "parameters": [ID],
                "get": {"summary": "HTML report", "responses": {
                    "200": _ok("the report", "text/html"), "404": _error("not found"),
                    "409": _error("no results yet"), **AUTH_ERRORS}},
            },
            "/api/runs/{id}/files/{name}": {
                "parameters": [ID, {"name": "name", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                "get": {"summary": "One file of the directory (parquet, JSON, PNG, HTML)",
                        "responses": {"200": _ok("the file", "application/octet-stream"),
                                      "404": _error("not found"), **AUTH_ERRORS}},
            },
            "/api/validate": {
                "get": {"summary": "CC-mode validation of this host", "responses": {
                    "200": _ok("checks"), **AUTH_ERRORS}},
            },
            "/api/queue": {"get": {"summary": "Queue state", "responses": {
                "200": _ok("paused, running, counts"), **AUTH_ERRORS}}},
            "/api/queue/pause": {"post": {"summary": "Take no new jobs", "responses": {
                "200": _ok("queue state"), **AUTH_ERRORS}}},
            "/api/queue/resume": {"post": {"summary": "Take jobs again", "responses": {
                "200": _ok("queue state"), **AUTH_ERRORS}}},
            "/healthz": {"get": {"summary": "Liveness", "security": [],
                                 "responses": {"200": _ok("ok")}}},
            "/metrics": {"get": {"summary": "Prometheus text about the service", "security": [],
                                 "responses": {"200": _ok("metrics", "text/plain")}}},
        },
    }


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(spec())
