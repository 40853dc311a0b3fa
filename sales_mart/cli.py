"""The ``sales-mart`` command line: what a person does by hand (SPEC §7).

Each area registers its own subcommands, so the command line stays a thin table of contents:
``db`` and ``load`` (sales_mart.warehouse_cli), ``api`` (sales_mart.sandbox.cli).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# module path -> function(subparsers) that adds that area's commands
_AREAS = (
    "sales_mart.warehouse_cli",
    "sales_mart.sandbox.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sales-mart",
        description="sales_mart: load order files into the PostgreSQL retention mart.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _AREAS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # an area not built yet must not break the others
            if exc.name != module_name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
