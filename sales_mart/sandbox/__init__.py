"""The local sandbox of the sales report API (SPEC §2, §3).

- :mod:`sales_mart.sandbox.data` generates the ``user_order_log`` files deterministically
  from a seed, streaming rows to disk (``write_increment``, ``write_history``).
- :mod:`sales_mart.sandbox.faults` describes fault injection (a small JSON config).
- :mod:`sales_mart.sandbox.server` is the FastAPI app speaking the report API contract, and
  ``run_in_thread`` to start it in-process on a free port.
- :mod:`sales_mart.sandbox.cli` adds ``sales-mart api serve`` and ``sales-mart api export``.
"""
