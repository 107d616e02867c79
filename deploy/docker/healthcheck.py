"""Container health check: exit 0 when the service in this image answers GET /health.

The service is named by ``ENGAGE_SERVICE`` and listens on ``<SERVICE>_PORT``
(for example ``IDEAS_PORT``), the same variables the service itself reads.
Standard library only, so it runs in any image that has Python.
"""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORTS = {"web": 8000, "members": 8001, "ideas": 8002, "notify": 8003, "archive": 8004}


def health_url(environ: dict[str, str]) -> str:
    """The loopback /health address of the service named in ``environ``."""
    service = environ.get("ENGAGE_SERVICE", "")
    if service not in DEFAULT_PORTS:
        raise SystemExit(f"ENGAGE_SERVICE must be one of {', '.join(DEFAULT_PORTS)}, not {service!r}")
    port = environ.get(f"{service.upper()}_PORT") or DEFAULT_PORTS[service]
    return f"http://127.0.0.1:{port}/health"


def main() -> int:
    url = health_url(dict(os.environ))
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
