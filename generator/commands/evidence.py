from __future__ import annotations

import os
import sys

import click

from ..cli import COMMANDS, output_options, report

SUMMARY = "Verify the analysis controller's signed evidence chains and list its decisions."


@click.group("evidence", help=COMMANDS.get("evidence", SUMMARY))
def command() -> None:
    """The evidence group: one action, verify."""


@command.command("verify", help="Verify every record under DIR (a replica's chain, or a directory of replica "
                 "chains): each DSSE signature against --key, the sequence numbers and the hash chain; then list the "
                 "decisions in time order. Exit 1 when a record is missing, reordered, altered or signed by another "
                 "key, naming the file.", short_help="check the signatures and hash chain, list the decisions")
@click.argument("directory", metavar="DIR")
@click.option("--key", "keys", multiple=True, required=True, metavar="PUB",
              help="the public key (PEM, cosign.pub) of the controller's signing key; repeat for a rotated key")
@output_options
def verify(directory: str, keys: tuple[str, ...], fmt: str, strict: bool) -> int:
    from ..controller.evidence import verify_dir
    from ..errors import RolloutsError
    from ..keys import load_public_key

    if not os.path.isdir(directory):
        raise RolloutsError(f"{directory} is not a directory",
                            "Pass the controller's evidence directory (the volume it writes <replica>/*.dsse.json to).")
    result = verify_dir(directory, [load_public_key(path) for path in keys])
    out = sys.stdout if fmt == "text" else sys.stderr
    for d in result.decisions:
        print("\t".join((d.time, d.environment, d.service, d.hook, d.decision, d.reason)), file=out)
    code = report(result.findings, fmt, strict)
    if not result.findings:
        print(f"Verified {len(result.decisions)} records in {result.chains} chain(s) under {directory}", file=out)
    return code
