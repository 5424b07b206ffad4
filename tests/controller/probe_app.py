"""A small shop for the probe tests, run as a real process: ``python probe_app.py`` prints its port and serves.

Every route sits under a variant prefix, so one process plays every canary and primary the tests need:
``/healthy``, ``/down`` (503 everywhere), ``/slow<ms>`` (answers after <ms> milliseconds), ``/wrong`` (200 with a
degraded body that has no cart id). The shop: ``POST /<v>/api/v1/cart`` (needs ``Authorization: Bearer <token>``,
the token from $PROBE_APP_TOKEN) answers 201 with a new cart id that needs URL-encoding in a path (``c<n>?x``);
``GET /<v>/api/v1/cart/<id>`` answers 200 only for a known id and only when header ``X-Cart`` repeats it;
``POST /<v>/api/v1/pay`` answers 200 only when its JSON body names a known cart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TOKEN = os.environ.get("PROBE_APP_TOKEN", "")
CARTS: set[str] = set()
NUMBERS = itertools.count(1)


async def _variant(request: Request) -> Response | None:
    """The answer a variant gives instead of the shop's, or None to let the shop answer."""
    variant = request.path_params["variant"]
    if variant == "down":
        return Response("unavailable", status_code=503)
    if variant == "wrong":
        return JSONResponse({"status": "degraded"}, status_code=201 if request.url.path.endswith("/cart") else 200)
    if variant.startswith("slow"):
        await asyncio.sleep(int(variant[4:]) / 1000)
    elif variant != "healthy":
        return Response("unknown variant", status_code=404)
    return None


async def create_cart(request: Request) -> Response:
    if (early := await _variant(request)) is not None:
        return early
    if request.headers.get("authorization") != f"Bearer {TOKEN}" or not TOKEN:
        return Response("unauthorized", status_code=401)
    cart = f"c{next(NUMBERS)}?x"
    CARTS.add(cart)
    return JSONResponse({"id": cart, "status": "ok"}, status_code=201)


async def show_cart(request: Request) -> Response:
    if (early := await _variant(request)) is not None:
        return early
    cart = request.path_params["cart"]
    if cart not in CARTS or request.headers.get("x-cart") != cart:
        return Response("no such cart", status_code=404)
    return JSONResponse({"id": cart, "status": "ok"})


async def pay(request: Request) -> Response:
    if (early := await _variant(request)) is not None:
        return early
    try:
        cart = json.loads(await request.body()).get("cart")
    except (ValueError, AttributeError):
        return Response("bad body", status_code=400)
    if cart not in CARTS:
        return Response("no such cart", status_code=404)
    return JSONResponse({"status": "paid"})


app = Starlette(routes=[
    Route("/{variant}/api/v1/cart", create_cart, methods=["POST"]),
    Route("/{variant}/api/v1/cart/{cart:path}", show_cart, methods=["GET"]),
    Route("/{variant}/api/v1/pay", pay, methods=["POST"]),
])


def main() -> None:
    """Bind a free port on 127.0.0.1, print it (the test reads it), then serve until killed."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           timeout_graceful_shutdown=0))
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
