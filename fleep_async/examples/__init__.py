"""Short, runnable examples; each one runs against Fleep or FakeFleep and is run by a test.

- ``echo_bot``: answers every text with the same text, resuming from a file store.
- ``command_bot``: routers, filters, ``include_router``, an admin-only command, an error handler.
- ``fastapi_service``: a web service holding a ``FleepClient`` in its lifespan.
- ``webhook_relay``: posts to a conversation through a hook URL.
- ``file_bot``: receives and sends files.
- ``test_my_bot``: testing a bot with the ``fake_fleep`` pytest fixture.

Run one with ``python -m fleep_async.examples.echo_bot``; ``fleep-async examples`` lists them
and ``fleep-async examples --copy DIR`` copies them out to edit.
"""
