"""``qlib-local``: one CLI, one module per subcommand group.

Each module in ``COMMANDS`` exposes ``register(subparsers)``; its parsers set ``func``
to a callable taking the parsed args and returning an exit code. ``main`` imports only the
module of the command it runs (the others appear in ``--help`` by their one-line help), so
``qlib-local --help`` imports neither pandas nor numba and answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from qlib_local.errors import QlibError

# subcommand group -> (module with register(subparsers), its one line in --help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("qlib_local.cli.data", "the local K-line store"),
    "sim": ("qlib_local.cli.sim", "local OKX V5 exchange replaying the store"),
    "backtest": ("qlib_local.cli.backtest", "backtest a strategy config over the local store"),
    "check": ("qlib_local.cli.check", "check a strategy config for lookahead and warm-up bias"),
    "sweep": ("qlib_local.cli.sweep", "run every combination of a parameter grid over any config fields"),
    "walkforward": ("qlib_local.cli.walkforward", "walk a parameter grid forward: choose in-sample, trade out of sample"),
    "live": ("qlib_local.cli.live", "live trading: run the live notebook for an account"),
    "runs": ("qlib_local.cli.runs", "list live runs and their output notebooks"),
    "schedule": ("qlib_local.cli.schedule",
                 "print (or --install / --uninstall) the crontab for collectors and live runs"),
    "serve": ("qlib_local.cli.serve",
              "run collectors and live runs on schedule in this process (for machines without cron)"),
    "demo": ("qlib_local.cli.demo", "run the end-to-end demo on synthetic data"),
}


def command_of(argv: list[str]) -> str | None:
    """The subcommand group ``argv`` runs (its first word that is not an option)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in COMMANDS else None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The CLI parser; given ``argv``, only the group it runs is imported and registered in
    full (the rest as help lines), else every group is."""
    parser = argparse.ArgumentParser(
        prog="qlib-local", description="Research-to-live toolkit for crypto perpetual swaps."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = command_of(argv) if argv is not None else None
    for name, (module, help_line) in COMMANDS.items():
        if argv is not None and name != wanted:
            sub.add_parser(name, help=help_line)
            continue
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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
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
