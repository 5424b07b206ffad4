"""The command line: the only place that prints and exits.

Each command lives in ``generator/commands/<name>.py`` as a click command named ``command``. The top-level group
lists the names and summaries below without importing anything, and imports only the module of the command being
run (``LazyGroup.get_command``), so ``rollouts lint`` pays for click and lint, nothing else (bench/lint_startup.py).

Exit codes are the product's, not click's: a usage error is 64 (click would say 2, which here means "warnings
under --strict"), an internal error 3, an interrupt 130. Shell completion is click's own: ``_ROLLOUTS_COMPLETE``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from . import __version__

# command name -> one-line summary; the module is generator.commands.<name with - as _> (or SHARED_MODULES')
COMMANDS = {
    "lint": "Check rollouts.yaml files (default: every services/*/rollouts.yaml).",
    "render": "Render the flux/ tree from the specs.",
    "validate": "Validate the rendered tree: kubeconform, PromQL, kustomize build.",
    "check": "Lint, render --check and validate in one run.",
    "plan": "What each rollout will do: Flagger's schedule, time to promotion and to rollback, exposure.",
    "backtest": "Replay Flagger's analysis over a Prometheus's history: false aborts, no-data ticks, detection.",
    "diff": "What a change does to each release against BASE (default: the merge base): spec, plan, objects.",
    "schemas": "Build or fetch the offline schema catalog used by validate.",
    "schema": "Write the JSON Schema of rollouts.yaml or rollouts.project.yaml, for editors.",
    "keys": "Generate a cosign-format signing key pair.",
    "sign": "Sign the rendered tree (Sigstore bundle over every file's digest).",
    "verify": "Verify the rendered tree against its bundle, offline.",
    "commit": "Check, sign, verify and commit the rendered tree to the GitOps repository.",
    "pipeline": "The main job end to end on built-in defaults: render, validate, sign, commit, verify.",
    "controller": "The analysis controller Flagger calls in rollouts: serve it, or write its image's build context.",
    "evidence": "Verify the analysis controller's signed decision records.",
    "hold": "Hold a service's rollout in an environment: Flagger waits until it is released.",
    "release": "Release a hold: the rollout continues at Flagger's next tick.",
    "approve": "Approve the promotion of one revision (the one waiting, or --checksum); consumed when it completes.",
    "abort": "Ask for a rollback: Flagger rolls the Canary back at its next tick.",
}
# commands that share a module: name -> module (its click command is COMMANDS[name] there, not ``command``)
SHARED_MODULES = {"hold": "operator", "release": "operator", "approve": "operator", "abort": "operator"}

FORMATS = ("text", "json", "github", "sarif")

EX_USAGE = 64  # a usage error (sysexits.h); 2 is kept for "warnings under --strict"

EXIT_CODES = """exit codes:
  0    clean: no errors (and no warnings under --strict)
  1    errors found (or bad input such as an unreadable spec)
  2    warnings but no errors, under --strict
  3    internal error (run with --verbose for the traceback)
  64   usage error (unknown command or option, bad argument)
  130  interrupted"""

VERBOSE_HELP = "show tracebacks of internal errors"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 120}

F = TypeVar("F", bound=Callable[..., Any])


def _verbose_option() -> click.Option:
    # accepted before and after the command; main() reads it from argv, so it also covers errors raised while
    # the command line itself is still being parsed
    return click.Option(["-v", "--verbose"], is_flag=True, expose_value=False, help=VERBOSE_HELP)


def _accept_verbose(command: click.Command) -> click.Command:
    if not any("--verbose" in p.opts for p in command.params):
        command.params.append(_verbose_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _accept_verbose(sub)
    return command


class LazyGroup(click.Group):
    """The commands by name, each imported only when it is the one being run (or completed)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        shared = SHARED_MODULES.get(cmd_name)
        module = importlib.import_module(".commands." + (shared or cmd_name.replace("-", "_")), __package__)
        command: click.Command = module.COMMANDS[cmd_name] if shared else module.command
        return _accept_verbose(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write("\n" + EXIT_CODES + "\n")

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        items = [CompletionItem(name, help=summary) for name, summary in COMMANDS.items()
                 if name.startswith(incomplete)]
        return items + click.Command.shell_complete(self, ctx, incomplete)


@click.group("rollouts", cls=LazyGroup, context_settings=CONTEXT,
             help="Generate, lint, validate, sign and commit progressive-delivery manifests "
             "(Flagger + Linkerd + Flux) from services/*/rollouts.yaml.")
@click.version_option(__version__, "--version", prog_name="rollouts", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, expose_value=False, help=VERBOSE_HELP)
def rollouts() -> None:
    """The top-level group: every option is handled by click or by main()."""


def default_format() -> str:
    return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"


def output_options(f: F) -> F:
    """-f/--format and --strict, shared by every command that reports findings (parameters fmt and strict)."""
    default = default_format()
    f = click.option("--strict", is_flag=True, help="exit 2 when there are warnings but no errors")(f)
    return click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default=default, show_default=False,
                        help=f"output format (default: {default})")(f)


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


def parse(argv: list[str]) -> click.Context:
    """Parse a command line down to the command it runs, without running it (raises click.UsageError).
    For tests and tools that check a command line, such as the CI workflow's calls."""
    args = list(argv)
    ctx = rollouts.make_context("rollouts", args)
    while isinstance(ctx.command, click.Group):
        # a group takes flags only and stops parsing at its command's name: ctx.args are the tokens after that
        at = len(args) - len(ctx.args) - 1
        if at < 0 or args[at].startswith("-"):
            raise click.UsageError("missing command", ctx)
        rest = args[at:]
        _, command, args = ctx.command.resolve_command(ctx, rest)
        assert command is not None  # resolve_command raises for an unknown name
        ctx = command.make_context(command.name, args, parent=ctx)
    return ctx


def run(argv: list[str]) -> int:
    """Run a command line; return the exit code."""
    from .errors import RolloutsError

    verbose = "-v" in argv or "--verbose" in argv
    try:
        code = rollouts.main(args=argv, prog_name="rollouts", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except click.UsageError as e:  # unknown command or option, bad value, missing command
        e.show()
        return EX_USAGE
    except click.ClickException as e:
        e.show()
        return 1
    except (KeyboardInterrupt, click.Abort):  # click turns Ctrl-C (and EOF at a prompt) into Abort
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except RolloutsError as e:
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"  hint: {e.hint}", file=sys.stderr)
        return 1
    except Exception as e:  # an internal error: exit 3, the traceback only with --verbose
        if verbose:
            raise
        print(f"internal error: {type(e).__name__}: {e} (run with --verbose for the traceback)", file=sys.stderr)
        return 3


def main(argv: list[str] | None = None) -> NoReturn:
    sys.exit(run(sys.argv[1:] if argv is None else list(argv)))
