"""The one module that talks to sigstore-python, through its public API only (the range ``pyproject.toml`` allows,
``sigstore>=4.0,<5``; tests/sign/test_sigstore_versions.py runs the sign and verify tests against its oldest and
newest release).

What it uses, all public in every 4.x release: ``sigstore.oidc`` (``detect_credential``, ``IdentityToken``),
``sigstore.models`` (``Bundle``, ``TrustedRoot.from_file``, ``ClientTrustConfig.from_json`` / ``.production()``, the
trust config's ``signing_config.get_fulcio()``), ``sigstore.sign.SigningContext.from_trust_config`` (the way
``sigstore.sign``'s own documented example builds a signing context), ``sigstore.dsse.Statement``,
``sigstore.verify.Verifier`` and the ``sigstore.errors`` hierarchy.

Two things have no public equivalent, and each is handled without reaching into sigstore's private modules:

* sigstore-python's Fulcio, Rekor and timestamp clients raise ``FulcioClientError``, ``RekorClientError``,
  ``TimestampError`` and ``ExpiredCertificate``, defined in ``sigstore._internal`` and not derived from
  ``sigstore.errors.Error``. :func:`_from_sigstore` recognises them (and every ``sigstore.errors.Error``) by the
  package that defines their class, so nothing here imports or names a private module.
* the production trusted root: verify used to read the copy shipped in ``sigstore/_store/``; it now asks for
  ``ClientTrustConfig.production(offline=True)``, sigstore-python's own offline mode (its local TUF cache, seeded
  from the copy it ships; never fetched), with its "offline mode" log warning silenced. Upstream's semantics, with
  upstream's caveat: a cache that an online sigstore run refreshed is newer than the shipped copy, and one seeded
  by an older sigstore stays until the next online refresh (``--trusted-root FILE`` pins a root explicitly).

Two uses are public by documentation rather than by name: ``SigningContext.from_trust_config`` carries "@api
private" in its docstring, yet ``sigstore.sign``'s module example builds the context with it and 4.x has no other
way from a trust config; and the Fulcio URL named in signing errors is the ``url`` of the client that the public
``SigningConfig.get_fulcio()`` returns, read with ``getattr`` (falling back to "Fulcio").

sigstore costs about 0.8 s to import, so it is imported inside the functions that need it: key-based signing and
verification never load it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .errors import RolloutsError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate
    from sigstore.models import ClientTrustConfig, TrustedRoot


# --- failures of a keyless bundle, as verify reports them ---------------------------------------------------------

class VerificationFailure(Exception):
    """A keyless bundle that does not verify; the subclass says why (sigstore's own exceptions vary by release)."""


class MalformedBundle(VerificationFailure):
    """Not a valid Sigstore bundle."""


class KeyedBundle(VerificationFailure):
    """A bundle signed with a key (no certificate), checked against an identity policy."""


class IdentityMismatch(VerificationFailure):
    """The certificate chains to the trusted root but names another identity or issuer."""


class UntrustedInstance(VerificationFailure):
    """Something in the bundle does not chain to the trusted root (another Sigstore instance?)."""


class UntrustedCertificate(UntrustedInstance):
    """The signing certificate or its timestamps do not chain to the trusted root."""


class SignatureInvalid(VerificationFailure):
    """The signature, the envelope or the transparency-log entry does not verify."""


def _from_sigstore(e: BaseException) -> bool:
    """True when ``e``'s class (or a base of it) is defined in the sigstore package: ``sigstore.errors.Error`` and
    the client errors that do not derive from it (see the module docstring)."""
    return any(c.__module__ == "sigstore" or c.__module__.startswith("sigstore.") for c in type(e).__mro__)


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:300]


# --- trust --------------------------------------------------------------------------------------------------------

@contextmanager
def _quiet_sigstore() -> Iterator[None]:
    """Silence sigstore's log warnings for a moment (offline TUF mode warns on every load; the CLI prints its own)."""
    logger = logging.getLogger("sigstore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def production_trust_config(offline: bool) -> ClientTrustConfig:
    """The public-good instance: ``offline`` from sigstore-python's local TUF cache (seeded from the copy it ships),
    else refreshed over TUF."""
    from sigstore.models import ClientTrustConfig

    if not offline:
        return ClientTrustConfig.production()
    with _quiet_sigstore():
        return ClientTrustConfig.production(offline=True)


def trusted_root(path: str | None) -> TrustedRoot:
    """The trusted root in ``path``, or by default the production root, offline (never fetched)."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import TrustedRoot

    where = path or "(sigstore-python's offline production root)"
    try:
        if path:
            return TrustedRoot.from_file(path)
        return production_trust_config(offline=True).trusted_root
    except OSError as e:
        raise RolloutsError(f"cannot load the trusted root {where}: {e.strerror or e}",
                            "Pass --trusted-root FILE." if not path else "") from None
    except (ValueError, SigstoreError) as e:
        raise RolloutsError(f"cannot load the trusted root {where}: {str(e)[:300]}") from None


# --- verify -------------------------------------------------------------------------------------------------------

def bundle_certificate(text: bytes) -> Certificate:
    """The signing certificate of a keyless bundle, unverified."""
    from sigstore.models import Bundle

    return Bundle.from_json(text).signing_certificate


def verify_keyless(text: bytes, root_path: str | None, check_identity: Callable[[Certificate], str | None],
                   artifact: bytes | None = None) -> tuple[str, bytes] | None:
    """Verify a keyless bundle offline against the trusted root at ``root_path`` (default: :func:`trusted_root`).
    ``check_identity`` returns why a verified certificate names the wrong signer, or None. Returns (payload type,
    payload) of a DSSE envelope, or None for a blob signature over ``artifact``; raises a
    :class:`VerificationFailure`, or RolloutsError when the trusted root cannot be loaded."""
    from sigstore.errors import CertValidationError, VerificationError
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle, InvalidBundle
    from sigstore.verify import Verifier

    try:
        bundle = Bundle.from_json(text)
    except InvalidBundle as e:
        if "expected certificate" in str(e):
            raise KeyedBundle(str(e)) from None
        raise MalformedBundle(f"not a valid Sigstore bundle: {e}") from None
    except (ValueError, SigstoreError) as e:
        raise MalformedBundle(f"not a valid Sigstore bundle: {str(e)[:300]}") from None
    verifier = Verifier(trusted_root=trusted_root(root_path))

    class _Mismatch(VerificationError):
        """The certificate verified, but names someone else."""

    class _Policy:  # a sigstore.verify.policy.VerificationPolicy
        def verify(self, cert: Certificate) -> None:
            why = check_identity(cert)
            if why is not None:
                raise _Mismatch(why)

    try:
        if artifact is not None:
            verifier.verify_artifact(artifact, bundle, _Policy())
            return None
        return verifier.verify_dsse(bundle, _Policy())
    except _Mismatch as e:
        raise IdentityMismatch(str(e)) from None
    except CertValidationError as e:
        raise UntrustedCertificate(str(e)[:300]) from None
    except (VerificationError, SigstoreError) as e:
        message = str(e)
        raise (UntrustedInstance if "chain" in message else SignatureInvalid)(message[:300]) from None
    except ValueError as e:
        raise MalformedBundle(f"malformed bundle: {str(e)[:300]}") from None


# --- sign ---------------------------------------------------------------------------------------------------------

def ambient_identity_token() -> str | None:
    """The ambient OIDC token (GitHub Actions, GitLab, Buildkite, GCP, CircleCI) for audience sigstore, or None."""
    from sigstore.oidc import IdentityError, detect_credential

    try:
        return detect_credential()
    except IdentityError as e:
        raise RolloutsError(f"cannot get the ambient OIDC identity token: {e}",
                            "In GitHub Actions, grant `permissions: id-token: write` to the job.") from None


def sign_dsse_keyless(statement: bytes, token: str, trust_config: str | None = None) -> tuple[str, Certificate,
                                                                                             str]:
    """(bundle JSON, signing certificate, the token's identity): the in-toto ``statement`` in a DSSE envelope,
    signed keyless (a Fulcio certificate and a Rekor entry; this needs the network). ``trust_config`` is a
    ClientTrustConfig JSON file; default: the production instance, refreshed over TUF. Failures are
    RolloutsErrors."""
    import requests
    from sigstore.dsse import Statement
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityError, IdentityToken
    from sigstore.sign import SigningContext

    try:
        identity = IdentityToken(token)
    except IdentityError as e:
        raise RolloutsError(f"the OIDC identity token is not usable for Sigstore: {e}",
                            "The token must have audience `sigstore` and must not be expired.") from None
    try:
        if trust_config:
            with open(trust_config, encoding="utf-8") as fh:
                trust = ClientTrustConfig.from_json(fh.read())
        else:
            trust = production_trust_config(offline=False)  # a TUF refresh: keyless signing is online anyway
        context = SigningContext.from_trust_config(trust)
        # the Fulcio URL, to name it in errors: SigningContext keeps it private, the signing config's client has it
        fulcio = str(getattr(trust.signing_config.get_fulcio(), "url", "") or "Fulcio")
    except OSError as e:
        raise RolloutsError(f"cannot read the trust config {trust_config}: {e.strerror}") from None
    except (SigstoreError, ValueError) as e:
        raise RolloutsError(f"invalid Sigstore trust config {trust_config or '(built-in production)'}: "
                            f"{_short(e)}") from None
    try:
        with context.signer(identity, cache=True) as signer:
            bundle = signer.sign_dsse(Statement(statement))
    except (requests.RequestException, OSError) as e:
        raise RolloutsError(f"keyless signing failed: cannot reach the Sigstore services ({fulcio}): {_short(e)}",
                            "Keyless signing needs network access to Fulcio and Rekor; sign with --key "
                            "offline.") from None
    except Exception as e:
        if not _from_sigstore(e):
            raise
        raise RolloutsError(f"keyless signing failed ({fulcio}): {_short(e)}",
                            "Check the identity token and the Sigstore instance; sign with --key offline.") from None
    return bundle.to_json(), bundle.signing_certificate, identity.identity

