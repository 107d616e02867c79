"""An unreachable storage server is a 503 with a clear message, wherever the error surfaces."""
import json

from pymongo.errors import AutoReconnect, DuplicateKeyError, ServerSelectionTimeoutError

from services.common.errors import Unavailable
from services.common.http import error_response
from services.common.mongo import as_domain_error


def test_an_unreachable_server_becomes_unavailable():
    for error in (ServerSelectionTimeoutError("no servers"), AutoReconnect("connection reset")):
        mapped = as_domain_error(error)
        assert isinstance(mapped, Unavailable) and mapped.__cause__ is error
        assert "Storage is unavailable" in mapped.message


def test_other_storage_errors_are_left_alone():
    error = DuplicateKeyError("E11000")
    assert as_domain_error(error) is error


def test_an_http_entrypoint_answers_503_naming_the_problem():
    response = error_response(ServerSelectionTimeoutError("no servers"))
    assert response.status_code == 503
    assert json.loads(response.get_data())["error"]["code"] == "unavailable"
