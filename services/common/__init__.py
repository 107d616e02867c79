"""The shared kit every Engagement Network service is built on.

It holds configuration, the event envelope and schema registry, storage with
its transactional outbox, the reliable event consumer, metrics, logging, token
checks, search terms and HTTP helpers. It holds no domain logic.
"""
