"""Backups and point-in-time recovery of the stack's Postgres with pgBackRest: its config and
stanza (`pgbackrest`), restores beside the stack (`restore`), the restore drill (`drill`), what
they last did (`status`, read by `metrics`) and their schedules (`tasks`).

docs/operations.md, "Backups and point-in-time recovery", is the operator's guide.
"""
