"""A web service that holds one ``FleepClient`` for its lifetime and posts messages on request.

Written with Starlette, which ``fleep-async[server]`` installs; with FastAPI it is the same:
``FastAPI(lifespan=lifespan)`` takes this lifespan function unchanged.

::

    pip install 'fleep-async[server]'
    export FLEEP_EMAIL=... FLEEP_PASSWORD=...  # and FLEEP_BASE_URL for a local fake
    uvicorn fleep_async.examples.fastapi_service:app --port 8000
    curl -X POST localhost:8000/notify -H 'content-type: application/json' \\
        -d '{"conversation_id": "<CONV>", "text": "deploy finished"}'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fleep_async import FleepClient
from fleep_async.errors import FleepError, UsageError


def create_app(**client_options: Any) -> Starlette:
    """The app; ``client_options`` go to :class:`FleepClient` (tests pass a transport)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # One client (one connection pool, one session) for the whole life of the service.
        async with FleepClient(
            os.environ["FLEEP_EMAIL"],
            os.environ["FLEEP_PASSWORD"],
            base_url=os.environ.get("FLEEP_BASE_URL", "https://fleep.io"),
            **client_options,
        ) as client:
            yield {"fleep": client}  # becomes request.state.fleep

    async def notify(request: Request) -> JSONResponse:
        body = await request.json()
        if not isinstance(body, dict) or not body.get("conversation_id") or not body.get("text"):
            return JSONResponse({"error": "need conversation_id and text"}, status_code=400)
        client: FleepClient = request.state.fleep
        try:
            sent = await client.send_text(str(body["conversation_id"]), str(body["text"]))
        except UsageError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except FleepError as exc:
            return JSONResponse({"error": str(exc)}, status_code=502)
        return JSONResponse({"message_nr": sent.result_message_nr})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"account_id": request.state.fleep.account_id})

    routes = [Route("/notify", notify, methods=["POST"]), Route("/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)


app = create_app()
