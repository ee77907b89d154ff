"""`python -m core <command>`: the lab on the command line.

Each command prints a short human summary, writes its outputs as files, and on bad input exits non-zero
with one line `error: <what is wrong and what to do>`, never a traceback (set QUILL_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from core.errors import UserError, environment_language


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own prints usage first; the contract is one line
        raise UserError.coded("usage", message=message, prog=self.prog)  # argparse's own words stay English


# Each stage package owns its commands; their modules import only what parsing needs (the work is imported inside
# each command), so `python -m core --help` stays fast.
COMMAND_MODULES = ("core.models.commands", "core.evaluation.commands", "core.data.commands", "core.train.commands",
          "core.playground.commands", "core.ratings.commands", "core.bench.commands", "core.train.sweep_commands", "core.publish.export",
          "core.write.commands")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="Quill Lab on the command line.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for area in COMMAND_MODULES:
        import_module(area).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help()
            return 2
        args.run(args)
        return 0
    except UserError as exc:
        message = exc.text(environment_language())
        print(f"error: {' '.join(message.split())}", file=sys.stderr)  # one line, whatever the message held
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the contract: one line, never a traceback
        if os.environ.get("QUILL_DEBUG"):
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(f"error: unexpected {type(exc).__name__}: {first_line} (rerun with QUILL_DEBUG=1 for details)", file=sys.stderr)
        return 1
