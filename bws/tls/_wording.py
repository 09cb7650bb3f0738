# -*- test-case-name: tests.test_tls -*-
"""OpenSSL and ``service_identity`` failures worded as ``SslError`` messages."""

from __future__ import annotations

from typing import Final

from cryptography import x509
from OpenSSL import SSL, crypto
from service_identity import VerificationError
from service_identity.exceptions import DNSMismatch, IPAddressMismatch
from service_identity.hazmat import DNS_ID, IPAddress_ID
from twisted.python.failure import Failure

from bws.errors import SslError
from bws.tls._suites import CRL_PROBLEMS, EXPIRED, NOT_YET_VALID, REVOKED, UNTRUSTED_CODES

# Attribute on a handshake exception that carries bws's explanation of it.
_DETAIL_ATTRIBUTE: Final = "bwsTlsDetail"


def _subjectText(certificate: x509.Certificate) -> str:
    try:
        return certificate.subject.rfc4514_string() or "(empty subject)"
    except Exception:
        return "(unreadable subject)"


def certificateNames(certificate: x509.Certificate) -> list[str]:
    """The DNS names and IP addresses a certificate is valid for (else its ``CN=``s)."""
    names: list[str] = []
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [str(n) for n in san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    if not names:
        cns = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        names += [f"CN={cn.value!s}" for cn in cns]
    return names


def describeVerifyError(code: int, words: str, certificate: x509.Certificate | None) -> str:
    """Say in words why OpenSSL refused a certificate chain.

    :param code: the ``X509_V_ERR_*`` code.
    :param words: OpenSSL's words for it.
    :param certificate: the certificate it refused, when known.
    """
    who = "the certificate"
    if certificate is not None:
        who = f"the certificate of {_subjectText(certificate)}"
        names = certificateNames(certificate)
        if names:
            who += f" ({', '.join(names)})"
    if code in UNTRUSTED_CODES:
        return f"{words}: {who} is untrusted (it does not chain to a CA in the trust store)"
    if code == EXPIRED:
        when = f" on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC" if certificate else ""
        return f"{words}: {who} expired{when}"
    if code == NOT_YET_VALID:
        when = f" until {certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC" if certificate else ""
        return f"{words}: {who} is not valid{when}"
    if code == REVOKED:
        return f"{words}: {who} is listed in the CRL"
    if code in CRL_PROBLEMS:
        return f"{words}: the crlFile cannot be used to check {who}"
    return f"{words}: {who} was refused"


def annotate(exception: BaseException, detail: str) -> None:
    """Attach bws's explanation to a handshake exception (the first one given is kept)."""
    if getattr(exception, _DETAIL_ATTRIBUTE, None) is None:
        try:
            setattr(exception, _DETAIL_ATTRIBUTE, detail)
        except AttributeError:  # exceptions with __slots__
            pass


def openSSLReasons(exception: SSL.Error) -> list[str]:
    """The reason strings of an OpenSSL error queue, in order."""
    reasons: list[str] = []
    for arg in exception.args:
        if isinstance(arg, list):
            for item in arg:
                if isinstance(item, tuple) and item:
                    reasons.append(str(item[-1]))
                else:
                    reasons.append(str(item))
        elif arg:
            reasons.append(str(arg))
    return [r for r in reasons if r]


_ALERTS: Final[tuple[tuple[str, str], ...]] = (
    ("alert certificate required", "the peer requires a client certificate and none was sent"),
    ("peer did not return a certificate", "the client sent no certificate, but verifyClient is REQUIRE"),
    ("alert unknown ca", "the peer refused our certificate as untrusted (unknown CA)"),
    ("alert certificate expired", "the peer refused our certificate: certificate has expired"),
    ("alert certificate revoked", "the peer refused our certificate: certificate revoked"),
    ("alert bad certificate", "the peer refused our certificate (bad certificate)"),
    ("alert certificate unknown", "the peer refused our certificate (certificate unknown)"),
    ("alert unsupported certificate", "the peer refused our certificate (unsupported certificate)"),
    ("alert access denied", "the peer refused our certificate (access denied)"),
    ("alert protocol version", "protocol version mismatch: the peer supports none of our TLS versions"),
    ("unsupported protocol", "protocol version mismatch: the peer offered no TLS version we allow"),
    ("no protocols available", "protocol version mismatch: no TLS version is enabled"),
    ("version too low", "protocol version mismatch: the peer's TLS version is too low"),
    ("wrong version number", "the peer does not speak TLS (its bytes are not TLS records)"),
    ("packet length too long", "the peer does not speak TLS (its bytes are not TLS records)"),
    ("inappropriate fallback", "protocol version mismatch: inappropriate fallback"),
    ("no shared cipher", "no cipher suite in common with the peer"),
    ("no cipher match", "no cipher suite in common with the peer"),
    ("no ciphers available", "no cipher suite in common with the peer"),
    ("alert handshake failure", "the peer aborted the handshake (handshake failure: often no cipher suite or TLS version in common)"),
    ("http request", "the peer sent plain HTTP to a TLS port"),
    ("unexpected eof", "the peer closed the connection during the TLS handshake"),
)


#: OpenSSL's words for bytes that are not TLS records at all, such as a plain HTTP answer
#: (the record's version bytes, or its length, make no sense).
_NOT_TLS: Final = ("wrong version number", "packet length too long")


def notTlsError(exception: BaseException | None, host: str, port: int) -> SslError | None:
    """The error for a TLS client whose server answered with something that is not TLS
    (typically a ``wss://`` URL for a plain ``ws://`` server).

    :param exception: why the connection failed: an ``SSL.Error``, or an ``SslError`` whose
        ``__cause__`` is one.
    :param host: the server's host, as the URL names it.
    :param port: the server's port.
    :return: an ``SslError`` saying the server at ``host:port`` does not speak TLS (the
        OpenSSL error as its ``__cause__``), or ``None`` when ``exception`` is another
        failure.
    """
    cause = exception.__cause__ if isinstance(exception, SslError) else exception
    if not isinstance(cause, SSL.Error):
        return None
    reasons = openSSLReasons(cause)
    raw = "; ".join(reasons)
    if not any(needle in raw.lower() for needle in _NOT_TLS):
        return None
    error = SslError(f"TLS handshake failed: the server at {host}:{port} does not speak TLS "
                     f"(is it ws:// rather than wss://?) [{raw}]")
    error.__cause__ = cause
    return error


def _describeOpenSSLError(exception: SSL.Error) -> str:
    reasons = openSSLReasons(exception)
    raw = "; ".join(reasons) or type(exception).__name__
    lowered = raw.lower()
    detail = getattr(exception, _DETAIL_ATTRIBUTE, None)
    if "certificate verify failed" in lowered:
        if detail is None:
            detail = "the peer certificate is untrusted, expired, not yet valid or revoked"
        return f"TLS handshake failed: certificate verify failed: {detail}"
    for needle, words in _ALERTS:
        if needle in lowered:
            return f"TLS handshake failed: {words} [{raw}]"
    return f"TLS handshake failed: {raw}"


def _describeVerificationError(exception: VerificationError) -> str:
    wanted: list[str] = []
    for error in exception.errors:
        identity = getattr(error, "mismatched_id", None)
        if isinstance(error, DNSMismatch) and isinstance(identity, DNS_ID):
            host = identity.hostname
            wanted.append(host.decode("ascii", "replace") if isinstance(host, bytes) else str(host))
        elif isinstance(error, IPAddressMismatch) and isinstance(identity, IPAddress_ID):
            wanted.append(str(identity.ip))
        else:
            wanted.append(str(error))
    message = f"TLS handshake failed: hostname mismatch: the server certificate is not valid for {', '.join(repr(w) for w in wanted) or 'the requested host'}"
    names = getattr(exception, _DETAIL_ATTRIBUTE, None)
    if names:
        message += f" (it is valid for: {names})"
    return message


def sslErrorFromFailure(reason: Failure | BaseException) -> SslError:
    """Turn a TLS failure into an :class:`bws.errors.SslError` that says what went wrong.

    Protocols wrapped by :func:`listenerTLSFactory` and :func:`clientTLSFactory` already
    receive TLS-level failures in ``connectionLost`` as ``SslError`` (returned unchanged
    here); this also words the raw OpenSSL and ``service_identity`` failures of other TLS
    transports, and bare exceptions: untrusted issuers, host-name mismatches, expired or
    revoked certificates, protocol-version and cipher mismatches, alerts from the peer, and
    handshake timeouts. The original exception is the result's ``__cause__``.

    :param reason: the failure or exception.
    :return: the error to raise or report; an ``SslError`` is returned unchanged.
    """
    exception = reason.value if isinstance(reason, Failure) else reason
    if isinstance(exception, SslError):
        return exception
    if isinstance(exception, VerificationError):
        message = _describeVerificationError(exception)
    elif isinstance(exception, SSL.Error):
        message = _describeOpenSSLError(exception)
    elif isinstance(exception, crypto.X509StoreContextError):
        code, words = int(exception.errors[0]), str(exception)
        cert = exception.certificate.to_cryptography() if exception.certificate is not None else None
        message = f"TLS handshake failed: certificate verify failed: {describeVerifyError(code, words, cert)}"
    else:
        text = str(exception) or type(exception).__name__
        message = f"TLS connection failed: {text}"
    error = SslError(message)
    error.__cause__ = exception if isinstance(exception, BaseException) else None
    return error
