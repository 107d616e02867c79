"""The public JSON API's request schemas, one module per service, with the values they accept.

Each service validates its requests with these (its ``schemas`` module
imports them) and the gateway describes ``/api/v1`` in OpenAPI from the very
same classes, so the description cannot promise a field the service refuses,
and the gateway describes the API without importing any service.
"""
