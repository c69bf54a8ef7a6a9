"""The use cases of Assay, one function each, called by every interface (CLI, REST API, UI).

Each takes an :class:`~assay.operations.actor.Actor` and plain arguments, checks the permission,
does the work through ``catalog/``, ``engine/`` and ``executors/``, and returns frozen views.
No rule lives in an adapter; no ORM row or database session leaves ``catalog/``.
"""
