"""sales_mart: a SQL-first ELT pipeline for a shop's daily order increments.

The package holds the Python that is not data logic: the report API client, the local sandbox
API, the warehouse helpers that COPY files and CALL the procedures in ``db/``, and the
``sales-mart`` command line.
"""

__version__ = "0.1.0"
