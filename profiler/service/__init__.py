"""Service mode: an authenticated HTTP API and dashboard over profiles and their results.

    tee-llm-prof serve --port 8765 --data ./service-data

- ``app.py``        the aiohttp application, middlewares, start-up/shutdown
- ``routes.py``     the JSON API; ``dashboard.py`` the HTML page; ``openapi.py`` its description
- ``auth.py``       bearer token (constant-time compare) and the dashboard session cookie
- ``schemas.py``    strict request models and the SSRF guard (targets only from models.yaml)
- ``jobs.py``       the persistent SQLite job queue; ``runner.py`` runs jobs as subprocesses
- ``results.py``    reading profile/run directories, progress, headline overheads, safe files
"""

from profiler.service.app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
