# TLS as a client makes it: whom to trust (the system's CAs, --cafile, or anyone with
# --insecure), the client certificate (--cert/--key), the checks that turn a bad file into
# a usage error before anything connects, and what a broker's refusal of our certificate
# means in words.
from __future__ import annotations

import re
import ssl
from dataclasses import dataclass

from ..errors import ConnectFailed, UsageError


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """How TLS connections are made.

    Args:
        insecure: trust any server certificate, for any name.
        cafile: trust only the CA certificates in this PEM file, not the system's.
        cert: a PEM file with our client certificate (and its chain), for brokers that
            ask for one (mutual TLS); it may hold the private key too.
        key: the PEM file of that certificate's private key, when `cert` lacks it.
    """

    insecure: bool = False
    cafile: str | None = None
    cert: str | None = None
    key: str | None = None

    def context(self) -> ssl.SSLContext:
        """Raises UsageError, never ssl.SSLError or OSError, for a bad cafile, cert or
        key."""
        context = _trusting(self.cafile)
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.cert is not None:
            _load_client_cert(context, self.cert, self.key)
        elif self.key is not None:
            raise UsageError("a key without its certificate: give the certificate too")
        return context


def _trusting(cafile: str | None) -> ssl.SSLContext:
    """A client context trusting the system's CAs, or only those in `cafile`."""
    if cafile is None:
        return ssl.create_default_context()
    try:
        context = ssl.create_default_context(cafile=cafile)
    except ssl.SSLError:  # not PEM, or a PEM block that is cut short or corrupt
        context = None
    except OSError as error:  # missing, a directory, unreadable
        raise UsageError(f"cannot read {cafile!r}: {error.strerror}") from None
    # A file holding only a CRL loads without complaint, yet trusts nobody.
    if context is None or not context.cert_store_stats()["x509"]:
        raise UsageError(f"{cafile!r} holds no readable certificate: give a PEM file of "
                         "CA certificates (-----BEGIN CERTIFICATE-----)")
    return context


def check_cafile(path: str) -> str:
    """`path` if it is a file of PEM certificates that TLS can trust; else UsageError."""
    _trusting(path)
    return path


def _read_pem(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:  # missing, a directory, unreadable
        raise UsageError(f"cannot read {path!r}: {error.strerror}") from None


def check_cert(path: str) -> str:
    """`path` if it holds a PEM certificate (a client certificate, perhaps with its key
    and chain); else UsageError."""
    data = _read_pem(path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        # Reads the PEM certificates and skips other blocks, such as a key.
        context.load_verify_locations(cadata=data.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError):
        pass
    if not context.cert_store_stats()["x509"]:
        raise UsageError(f"{path!r} holds no readable certificate: give a PEM file "
                         "(-----BEGIN CERTIFICATE-----)")
    return path


def check_key(path: str) -> str:
    """`path` if it holds a PEM private key; else UsageError. (Whether the key is
    readable and matches its certificate, `TLSOptions.context` finds out.)"""
    data = _read_pem(path)
    if not re.search(rb"-----BEGIN (?:[A-Z]+ )?(?:ENCRYPTED )?PRIVATE KEY-----", data):
        raise UsageError(f"{path!r} holds no private key: give a PEM file "
                         "(-----BEGIN PRIVATE KEY-----)")
    return path


class _EncryptedKey(Exception):
    """The private key needs a passphrase."""


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal, and hang a pipeline.
    raise _EncryptedKey


def _load_client_cert(context: ssl.SSLContext, cert: str, key: str | None) -> None:
    check_cert(cert)
    check_key(key if key is not None else cert)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKey:
        raise UsageError(f"the private key in {key or cert!r} is encrypted: give it "
                         "decrypted (openssl pkey -in KEY -out NEW_KEY)") from None
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise UsageError(f"the private key in {key or cert!r} does not match the "
                             f"certificate in {cert!r}") from None
        raise UsageError(f"cannot load the certificate {cert!r} with the key "
                         f"{key or cert!r}: {error.reason or error}") from None
    except OSError as error:
        raise UsageError(f"cannot read {key or cert!r}: {error.strerror}") from None


class CertificateRefused(ConnectFailed):
    """The broker wanted a TLS client certificate and had none, or refused ours."""


# Alerts by which a TLS server refuses a client certificate (RFC 8446 §6.2). Under TLS 1.3
# they come after the client has finished its handshake, so with the first read.
_CERTIFICATE_ALERTS = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA",
                       "CERTIFICATE_UNKNOWN", "CERTIFICATE_EXPIRED", "CERTIFICATE_REVOKED",
                       "UNSUPPORTED_CERTIFICATE", "ACCESS_DENIED")


def maybe_certificate_refusal(error: BaseException, tls: TLSOptions, *,
                              answered: bool = True) -> str | None:
    """What a TLS failure says about our client certificate, if it is about that.

    Args:
        answered: whether the broker had sent anything yet. A broker that refuses a TLS
            1.3 client while the client's first bytes are on their way (mosquitto does)
            may cut the connection before its alert arrives: without a certificate,
            such an end before any answer is most likely that.
    """
    reason = ""
    if isinstance(error, ssl.SSLError) and not isinstance(error, ssl.SSLCertVerificationError):
        reason = error.reason or ""
    alert = reason.lower().replace("_", " ")
    cut = not answered and isinstance(
        error, (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError))
    if tls.cert is not None:
        if reason.endswith(_CERTIFICATE_ALERTS):
            return f"the broker refused the client certificate ({alert})"
        if cut:
            return "the broker cut the TLS connection before answering; it may not " \
                   "accept the client certificate"
        return None
    if reason.endswith(_CERTIFICATE_ALERTS):
        return "the broker requires a client certificate (--cert/--key)"
    if reason.endswith("HANDSHAKE_FAILURE"):  # TLS 1.2's word for any refusal
        return f"TLS handshake failed ({alert}); the broker may require a client " \
               "certificate (--cert/--key)"
    if cut:
        return "the broker cut the TLS connection before answering; it may require a " \
               "client certificate (--cert/--key)"
    return None
