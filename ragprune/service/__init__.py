"""The ``ragprune serve`` HTTP service (needs the ``serve`` extra): see :mod:`ragprune.service.app`.

``create_app(pruner, config=ServiceConfig(...))`` returns the FastAPI app; nothing heavy is imported here.
"""
