"""The read pages' floor: a bare eventlet WSGI server (nameko's server library) answering fixed bytes from memory.

``python -m bench.bare_bytes DIRECTORY PORT`` serves every file of DIRECTORY
at ``/<file name>``, read once at start, with Nagle's algorithm off as the
gateway's server has it: the least any page can cost on this server, whatever
the platform does to build it.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import socket  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import eventlet.wsgi  # noqa: E402

TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json"}


def app_for(directory: Path):
    pages = {f"/{path.name}": (path.read_bytes(), TYPES.get(path.suffix, "application/octet-stream"))
             for path in directory.iterdir() if path.is_file()}

    def app(environ, start_response):
        found = pages.get(environ["PATH_INFO"])
        if found is None:
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        body, content_type = found
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]
    return app


def main(directory: str, port: str) -> None:
    sock = eventlet.listen(("127.0.0.1", int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted connections inherit it
    eventlet.wsgi.server(sock, app_for(Path(directory)), log_output=False)


if __name__ == "__main__":
    main(*sys.argv[1:3])
