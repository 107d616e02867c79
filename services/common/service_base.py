"""What every service class inherits: metrics, log context, and ``/health``, ``/ready``, ``/metrics``.

Operators also get the ``dead_letters`` RPC, which the agency admin area shows. Every RPC
entrypoint of the service is checked against its declaration by ``caller``, which methods also
ask who is calling (``self.caller.required(scope)``): one verified caller per call.

``/ready`` answers 200 only when every shared part of the container that can
tell (storage, the broker connection) says it is ready, and names what is not.
"""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from services.common.dead_letters import DeadLetterBook
from services.common.http import api, json_response
from services.common.logs import LogContext
from services.common.metrics import EntrypointMetrics
from services.common.rpc import OPERATOR, RpcAccess, rpc


class Readiness(DependencyProvider):
    def get_dependency(self, worker_ctx):
        def problems() -> list[str]:
            found = []
            for extension in self.container.shared_extensions.values():
                check = getattr(extension, "check_ready", None)
                if check is not None:
                    problem = check()
                    if problem:
                        found.append(problem)
            return found

        return problems


class ServiceBase:
    """Mix into every service class.

    Import the module, not the class (``from services.common import service_base``;
    ``class MembersService(service_base.ServiceBase)``): ``nameko run services.members.service``
    treats every class with entrypoints in the module's namespace as a service.
    """

    metrics = EntrypointMetrics()
    log_context = LogContext()
    readiness = Readiness()
    dead_letter_book = DeadLetterBook()
    caller = RpcAccess()

    @api("GET", "/health")
    def health(self, request):
        return json_response({"status": "ok", "service": self.name})

    @api("GET", "/ready")
    def ready(self, request):
        problems = self.readiness()
        return json_response({"ready": not problems, "service": self.name, "problems": problems},
                             200 if not problems else 503)

    @api("GET", "/metrics")
    def metrics_endpoint(self, request):
        return Response(self.metrics.exposition(), mimetype="text/plain; version=0.0.4")

    @rpc(allow=OPERATOR)
    def dead_letters(self, limit: int = 50) -> list[dict]:
        """Operators only: the messages this service's consumers gave up on, oldest first, without bodies."""
        return self.dead_letter_book(limit)
