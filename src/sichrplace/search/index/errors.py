"""Why the in-process index does not answer a request (the caller asks Postgres instead)."""


class Unsupported(Exception):
    """What the index does not answer; the message says why (logs, tests)."""
