"""Domain errors raised by services; the API maps them to HTTP statuses, pages to messages."""


class Conflict(Exception):
    """The action is valid in general but not in the object's current state (HTTP 409)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RateLimited(Exception):
    """Too many attempts of one kind by one user or address (HTTP 429, with Retry-After in seconds)."""

    def __init__(self, message: str, *, retry_after: int, code: str = "throttled"):
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, int(retry_after))
        self.code = code
