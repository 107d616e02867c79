"""nameko's ``rpc`` entrypoint, with domain errors logged as expected outcomes rather than crashes.

A storage server that cannot be reached answers the caller as ``Unavailable``
(503 at the gateway, with a clear message) instead of an internal error.
"""
from nameko.rpc import Rpc

from services.common.errors import DomainError
from services.common.mongo import as_domain_error


class DomainRpc(Rpc):
    def __init__(self, **kwargs):
        kwargs.setdefault("expected_exceptions", DomainError)
        super().__init__(**kwargs)

    def handle_result(self, message, worker_ctx, result, exc_info):
        if exc_info is not None:
            error = as_domain_error(exc_info[1])
            if error is not exc_info[1]:
                exc_info = (type(error), error, exc_info[2])
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = DomainRpc.decorator
