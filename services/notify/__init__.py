"""The notify service: notifications, per-member preferences, email digests and signed webhooks."""
