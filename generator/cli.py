"""The command line: the only place that prints and exits.

Each command lives in ``generator/commands/<name>.py`` with ``add_arguments(parser)`` and ``run(args) -> int``;
only the module of the command being run is imported, so ``rollouts lint`` pays for nothing it does not use
(argparse rather than click for that reason: click alone costs more start-up than the whole lint budget).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, NoReturn

from . import __version__

# command name -> one-line summary; the module is generator.commands.<name with - as _>
COMMANDS = {
    "lint": "Check rollouts.yaml files (default: every services/*/rollouts.yaml).",
    "render": "Render the flux/ tree from the specs.",
    "validate": "Validate the rendered tree: kubeconform, PromQL, kustomize build.",
    "check": "Lint, render --check and validate in one run.",
    "schemas": "Build or fetch the offline schema catalog used by validate.",
    "keys": "Generate a cosign-format signing key pair.",
    "sign": "Sign the rendered tree (Sigstore bundle over every file's digest).",
    "verify": "Verify the rendered tree against its bundle, offline.",
    "commit": "Check, sign, verify and commit the rendered tree to the GitOps repository.",
    "pipeline": "The main job end to end on built-in defaults: render, validate, sign, commit, verify.",
}

FORMATS = ("text", "json", "github", "sarif")

EX_USAGE = 64  # a usage error (sysexits.h); 2 is kept for "warnings under --strict"

EXIT_CODES = """exit codes:
  0    clean: no errors (and no warnings under --strict)
  1    errors found (or bad input such as an unreadable spec)
  2    warnings but no errors, under --strict
  3    internal error (run with --verbose for the traceback)
  64   usage error (unknown command or option, bad argument)
  130  interrupted"""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error; 2 means "warnings under --strict" here, so exit 64 (EX_USAGE)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _add_verbose(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="show tracebacks of internal errors")


def _module_file(name: str) -> str:
    return os.path.join(os.path.dirname(__file__), "commands", name.replace("-", "_") + ".py")


def build_parser(wanted: str | None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rollouts",
        description="Generate, lint, validate, sign and commit progressive-delivery manifests "
        "(Flagger + Linkerd + Flux) from services/*/rollouts.yaml.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rollouts {__version__}")
    _add_verbose(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, summary in COMMANDS.items():
        if not os.path.exists(_module_file(name)):
            continue
        command = sub.add_parser(name, help=summary, description=summary)
        _add_verbose(command, argparse.SUPPRESS)  # -v works after the subcommand too
        if name == wanted:
            module = importlib.import_module(".commands." + name.replace("-", "_"), __package__)
            module.add_arguments(command)
            command.set_defaults(run=module.run)
    return parser


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--format and --strict, shared by every command that reports findings."""
    default = "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    parser.add_argument("-f", "--format", dest="fmt", choices=FORMATS, default=default,
                        help=f"output format (default: {default})")
    parser.add_argument("--strict", action="store_true", help="exit 2 when there are warnings but no errors")


def report(findings: list[Any], fmt: str, strict: bool, rules: dict[str, str] | None = None) -> int:
    """Print findings in the chosen format; return the documented exit code (0, 1, or 2 under --strict)."""
    from .findings import exit_code
    from .report import format_findings, summary

    colour = fmt == "text" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    out = format_findings(findings, fmt, colour=colour, rules=rules)
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    if fmt == "text" and findings:
        print(summary(findings), file=sys.stderr)
    return exit_code(findings, strict)


def main(argv: list[str] | None = None) -> NoReturn:
    from .errors import RolloutsError

    argv = sys.argv[1:] if argv is None else argv
    wanted = next((a for a in argv if not a.startswith("-")), None)
    verbose = "-v" in argv or "--verbose" in argv
    try:
        args = build_parser(wanted).parse_args(argv)
        if not getattr(args, "run", None):
            build_parser(None).print_help(sys.stderr)
            sys.exit(EX_USAGE)
        sys.exit(args.run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except RolloutsError as e:
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"  hint: {e.hint}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # an internal error: exit 3, the traceback only with --verbose
        if verbose:
            raise
        print(f"internal error: {type(e).__name__}: {e} (run with --verbose for the traceback)", file=sys.stderr)
        sys.exit(3)
