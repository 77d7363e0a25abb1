"""``qlib-local``: one CLI, one module per subcommand group.

Each module in ``COMMANDS`` exposes ``register(subparsers)``; its parsers set ``func``
to a callable taking the parsed args and returning an exit code. Modules are imported
only when listed so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from qlib_local.errors import QlibError

# subcommand group -> module with register(subparsers)
COMMANDS: dict[str, str] = {
    "data": "qlib_local.cli.data",
    "sim": "qlib_local.cli.sim",
    "backtest": "qlib_local.cli.backtest",
    "sweep": "qlib_local.cli.sweep",
    "walkforward": "qlib_local.cli.walkforward",
    "live": "qlib_local.cli.live",
    "runs": "qlib_local.cli.runs",
    "schedule": "qlib_local.cli.schedule",
    "serve": "qlib_local.cli.serve",
    "demo": "qlib_local.cli.demo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qlib-local", description="Research-to-live toolkit for crypto perpetual swaps."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS.values():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name == module:  # a group not built yet
                continue
            raise
        mod.register(sub)
    return parser


def one_line(e: BaseException) -> str:
    """An error as one line (a cron mail or a log grep sees the whole message on the ``error:`` line)."""
    return "; ".join(part.strip() for part in str(e).splitlines() if part.strip())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    try:
        return int(args.func(args) or 0)
    except QlibError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
