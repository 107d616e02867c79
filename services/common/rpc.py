"""nameko's ``rpc`` entrypoint, with domain errors logged as expected outcomes rather than crashes."""
from nameko.rpc import Rpc

from services.common.errors import DomainError


class DomainRpc(Rpc):
    def __init__(self, **kwargs):
        kwargs.setdefault("expected_exceptions", DomainError)
        super().__init__(**kwargs)


rpc = DomainRpc.decorator
