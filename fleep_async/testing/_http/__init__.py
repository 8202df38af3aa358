"""FakeFleep's HTTP layer: everything between a request and the world model.

- :mod:`.app`: the Starlette app (``/api/...`` dispatch, hooks, downloads).
- :mod:`.routing`: the handler table (path -> handler, typed parameters, :class:`Ctx`).
- :mod:`.errors`: the error answers (status + ``error_id``).
- :mod:`.faults`: fault injection around the whole app. :mod:`.admin`: ``/_fakefleep/*``.
- :mod:`.server`: serving the app over a loopback socket (uvicorn).
"""
