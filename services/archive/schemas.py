"""Request schemas of the archive service (its events are in ``services.common.contract.archive``).

What callers send through ``/api/v1`` is defined once, in the public contract
(``services.common.contract.api.archive``, and ``services.common.contract.api.search``
for its part of the site's one search).
"""
from services.common.contract.api.archive import (DiffQuery, Listing, Proposal, ResourceEdit, ResourceInput, Review,
                                                  Revert, SearchQuery)
from services.common.contract.api.search import SiteSearchQuery
from services.common.contract.fields import Strict, Text


class Withdrawal(Strict):
    note = Text(load_default="", max_length=500)
