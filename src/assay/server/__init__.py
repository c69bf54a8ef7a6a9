"""The Assay server: FastAPI on uvicorn, serving the projects of one catalog (DESIGN.md §2).

``create_app(config)`` (``app.py``) makes the application; ``assay server`` (``cli/server.py``)
serves it. Every route but ``/healthz``, ``/readyz`` and the sign-in page needs an API token
(``Authorization: Bearer …``) or a signed-in browser session (``access.py``).
"""
