"""Who signed a keyless bundle: the identities (SANs) and the OIDC issuer of a Fulcio certificate.

Read by ``rollouts sign`` (to say who signed) and ``rollouts verify`` (to check the policy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

_SIGSTORE_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
_SIGSTORE_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_OTHERNAME_OID = "1.3.6.1.4.1.57264.1.7"


def issuer_of(cert: Certificate) -> str | None:
    from cryptography.x509 import ExtensionNotFound, ObjectIdentifier

    for oid, der in ((_SIGSTORE_ISSUER_V2, True), (_SIGSTORE_ISSUER_V1, False)):
        try:
            raw: bytes = cert.extensions.get_extension_for_oid(ObjectIdentifier(oid)).value.value  # type: ignore[attr-defined]
        except ExtensionNotFound:
            continue
        if der and len(raw) >= 2 and raw[0] == 0x0C:
            start = 2 if raw[1] < 0x80 else 2 + (raw[1] & 0x7F)
            return raw[start:].decode("utf-8", errors="replace")
        return raw.decode("utf-8", errors="replace")
    return None

def identities_of(cert: Certificate) -> list[str]:
    from cryptography.x509 import (
        ExtensionNotFound,
        ObjectIdentifier,
        OtherName,
        RFC822Name,
        SubjectAlternativeName,
        UniformResourceIdentifier,
    )

    try:
        san = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
    except ExtensionNotFound:
        return []
    values: list[str] = list(san.get_values_for_type(RFC822Name))
    values += san.get_values_for_type(UniformResourceIdentifier)
    values += [o.value.decode("utf-8", errors="replace") for o in san.get_values_for_type(OtherName)
               if o.type_id == ObjectIdentifier(_OTHERNAME_OID)]
    return values


def certificate_identity(cert: Certificate) -> tuple[str, str | None]:
    """(first SAN, OIDC issuer) of a Fulcio certificate: who signed a keyless bundle."""
    sans = identities_of(cert)
    return (sans[0] if sans else ""), issuer_of(cert)
