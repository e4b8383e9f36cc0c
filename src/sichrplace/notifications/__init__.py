"""Notifications: transactional email (queued with the business write, sent by a job)."""
