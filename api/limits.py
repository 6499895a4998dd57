"""Limits on what a request may cost before any route sees it: the size of its body."""

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413 `request_too_large`.

    A declared Content-Length over the limit is refused before a byte is read; a body without
    one (chunked) is counted as it arrives and refused once it passes the limit, so no route
    ever buffers more than `max_bytes` of it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = error_response(Request(scope), 413, "request_too_large")
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read, so the API's handler renders it.
                    raise HTTPException(413)
            return message

        await self.app(scope, counted, send)
