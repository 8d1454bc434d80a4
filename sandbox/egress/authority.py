"""A session's own certificate authority: it signs the certificates the egress proxy
shows the session for the hosts whose TLS it terminates (credential brokering).

Made fresh for every session (an EC P-256 key that never leaves the orchestrator's
memory; only the certificate goes into the sandbox, which trusts it), valid for
`VALIDITY` and constrained to sign server certificates for the brokered names only
(a name constraint). A leaf certificate per host name is made on first use and cached
with its server-side `ssl.SSLContext`.

That context checks the client's SNI in its ``sni_callback``: a ClientHello without
SNI, or naming another host than the CONNECT's, fails the handshake (the proxy's
record says so), so domain fronting stays refused on terminated tunnels too.
"""

from __future__ import annotations

import datetime
import os
import ssl
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from security.network_policy import HostPattern, normalise_host

VALIDITY = datetime.timedelta(days=7)
_BACKDATE = datetime.timedelta(hours=1)  # a sandbox clock a little behind still accepts it
ALPN = ["http/1.1"]  # the proxy relays HTTP/1.1 inside a terminated tunnel


class SessionAuthority:
    """The CA of one session, for the brokered ``names`` (host patterns)."""

    def __init__(self, names: Sequence[HostPattern], label: str = "session") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self._not_before, self._not_after = now - _BACKDATE, now + VALIDITY
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "airlock"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"airlock egress CA ({label})"),
            ]
        )
        permitted = sorted({pattern.name for pattern in names})
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
        )
        if permitted:
            builder = builder.add_extension(
                x509.NameConstraints(
                    permitted_subtrees=[x509.DNSName(name) for name in permitted],
                    excluded_subtrees=None,
                ),
                critical=True,
            )
        self._subject = subject
        self.certificate = builder.sign(self._key, hashes.SHA256())
        self._contexts: dict[str, ssl.SSLContext] = {}

    @property
    def pem(self) -> bytes:
        """The CA certificate, PEM: what the session trusts."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def server_context(self, host: str) -> ssl.SSLContext:
        """A server-side context showing a certificate for ``host`` (normalised), whose
        SNI check refuses any other name (cached per host)."""
        name = normalise_host(host)
        context = self._contexts.get(name)
        if context is None:
            context = self._contexts[name] = self._make_context(name)
        return context

    def _make_context(self, name: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(ALPN)
        chain = leaf.public_bytes(serialization.Encoding.PEM) + self.pem
        secret = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # ssl loads a key only from a file: a private folder, emptied at once
        with tempfile.TemporaryDirectory(prefix="airlock-egress-leaf-") as folder:
            cert_path, key_path = Path(folder, "cert.pem"), Path(folder, "key.pem")
            cert_path.write_bytes(chain)
            descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secret)
            context.load_cert_chain(cert_path, key_path)
        context.sni_callback = _sni_check(name)
        return context


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


SNI_REFUSED = "CALLBACK_FAILED"
"""The reason of the `ssl.SSLError` a handshake ends with when the SNI check refused."""


def _sni_check(name: str) -> Callable[[ssl.SSLObject, str | None, ssl.SSLContext], int | None]:
    def check(
        connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext
    ) -> int | None:
        if server_name is None or normalise_host(server_name) != name:
            return ssl.ALERT_DESCRIPTION_ACCESS_DENIED
        return None

    return check
