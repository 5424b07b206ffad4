"""``rollouts schema [spec|project] [-o FILE]``: the JSON Schemas the tool checks against, for editors outside this
repository (yaml-language-server's ``# yaml-language-server: $schema=<file>`` modeline)."""

from __future__ import annotations

import os
import sys

import click

from ..cli import COMMANDS

DOCUMENTS = {"spec": "services/<service>/rollouts.yaml", "project": "rollouts.project.yaml"}
UP = {"spec": "../../", "project": ""}  # from the document's directory back to the project root


def schema_file(which: str) -> str:
    if which == "project":
        from ..project import SCHEMA_FILE
    else:
        from ..spec.schema import SCHEMA_FILE
    return SCHEMA_FILE


@click.command("schema", help=COMMANDS["schema"] + "\n\nWHICH: spec (rollouts.yaml, the default) or project "
               "(rollouts.project.yaml). Without -o the schema is written to stdout.")
@click.argument("which", type=click.Choice(tuple(DOCUMENTS)), default="spec", required=False, metavar="[WHICH]")
@click.option("-o", "--output", metavar="FILE", help="write the schema to FILE instead of stdout")
def command(which: str, output: str | None) -> int:
    from ..errors import RolloutsError

    with open(schema_file(which), encoding="utf-8") as f:
        text = f.read()
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        raise RolloutsError(f"cannot write {output}: {e.strerror or e}",
                            "Pass -o a path in a directory that exists and is writable.") from None
    print(f"wrote the {which} schema to {output}; put this line at the top of {DOCUMENTS[which]}:", file=sys.stderr)
    print(f"# yaml-language-server: $schema={modeline_path(output, which)}", file=sys.stderr)
    return 0


def modeline_path(output: str, which: str) -> str:
    """The schema's path as the modeline of a document in the project (the current directory) names it:
    yaml-language-server resolves a relative path from the document's own directory; outside the project the
    path is absolute."""
    absolute = os.path.abspath(output)
    relative = os.path.relpath(absolute)
    if relative.startswith(".."):
        return absolute
    return UP[which] + relative.replace(os.sep, "/")
