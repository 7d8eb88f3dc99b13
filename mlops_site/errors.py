"""Domain errors raised by services; the API maps them to HTTP statuses, pages to messages."""


class Conflict(Exception):
    """The action is valid in general but not in the object's current state (HTTP 409)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
