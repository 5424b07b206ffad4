from __future__ import annotations

import sys

import click

from ..cli import COMMANDS


@click.group("keys", help=COMMANDS["keys"])
def command() -> None:
    """The keys group: one action, generate."""


@command.command("generate", help="Generate a cosign-format ECDSA P-256 key pair: P.key (encrypted, cosign format) "
                 "and P.pub. The password comes from COSIGN_PASSWORD (prompted for on a terminal when unset; an empty "
                 "value means none).", short_help="write P.key (encrypted, cosign format) and P.pub, ECDSA P-256")
@click.option("--output-prefix", "--output-key-prefix", "output_prefix", default="cosign", metavar="P",
              help="write P.key and P.pub (default: cosign; --output-key-prefix is cosign's spelling); existing "
              "files are never overwritten")
def generate(output_prefix: str) -> int:
    from ..keys import write_key_pair

    key_path, pub_path = write_key_pair(output_prefix, _password())
    print(f"Private key written to {key_path}")
    print(f"Public key written to {pub_path}")
    return 0


def _password() -> bytes:
    from ..errors import RolloutsError
    from ..keys import PASSWORD_ENV, password_from_env

    password = password_from_env()
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise RolloutsError(f"{PASSWORD_ENV} is not set", f"export {PASSWORD_ENV}=... before generating a key "
                            "(an empty value means no password).")
    import getpass

    first = getpass.getpass("Enter password for private key: ")
    if getpass.getpass("Enter password for private key again: ") != first:
        raise RolloutsError("the passwords do not match")
    return first.encode()
