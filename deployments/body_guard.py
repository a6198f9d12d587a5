"""An ASGI middleware in front of the API that refuses a request before its body costs anything:
a request that carries a body (POST, PUT, PATCH) without the right bearer token is answered 401
before one byte of it is read; a declared Content-Length over the limit is answered 413 at once;
a body that streams past the limit is cut off with 413 as the bytes arrive (so a multipart upload
never spools more than the limit to disk).

Limits: `api.max_body_kb` for JSON and form bodies, `api.max_upload_mb` for multipart uploads.
"""

from __future__ import annotations

import hmac
import json

BODY_METHODS = {"POST", "PUT", "PATCH"}


class BodyGuard:
    def __init__(self, app, *, token_of, max_body: int, max_upload: int) -> None:
        self.app = app
        self.token_of = token_of  # () -> the API's token (set once the app state is ready)
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return await _answer(send, 401, "missing bearer token (Authorization: Bearer <token>)", bearer=True)
        if not hmac.compare_digest(given.strip().encode(), self.token_of().encode()):
            return await _answer(send, 401, "wrong bearer token", bearer=True)
        limit = self.max_upload if headers.get("content-type", "").startswith("multipart/") else self.max_body
        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return await _answer(send, 400, "Content-Length is not a number")
            if size > limit:
                return await _answer(send, 413, f"the request body ({size} bytes) is over the limit of {limit} bytes")
        seen, started, cut = 0, False, False

        async def counted():
            nonlocal seen, cut
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # answer now; the app sees the client gone and its answer is dropped
                    cut = True
                    if not started:
                        await _answer(send, 413, f"the request body is over the limit of {limit} bytes")
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message):
            nonlocal started
            if cut:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted, tracked)


async def _answer(send, code: int, detail: str, *, bearer: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
