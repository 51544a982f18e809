"""Throw-away PKI for one control-plane run: a CA, the apiserver's serving cert, an admin client
cert (CN=admin, O=system:masters) and the service-account signing key."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Short-lived on purpose: the PKI lives only as long as one run directory.
VALIDITY = datetime.timedelta(days=7)
# Backdated so a slightly skewed clock between processes never sees a "not yet valid" cert.
BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    sa_key: Path
    sa_pub: Path


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
    )


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _make_ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    key = _new_key()
    name = _name("hb-controlplane-ca", "heartbeat-operator")
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_leaf(
    ca: tuple[x509.Certificate, rsa.RSAPrivateKey],
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    ca_cert, ca_key = ca
    key = _new_key()
    builder = (
        _builder(subject, ca_cert.subject, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def generate_pki(cert_dir: Path) -> Pki:
    """Write every certificate and key into `cert_dir` and return their paths."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        ca_cert=cert_dir / "ca.crt",
        server_cert=cert_dir / "apiserver.crt",
        server_key=cert_dir / "apiserver.key",
        client_cert=cert_dir / "admin.crt",
        client_key=cert_dir / "admin.key",
        sa_key=cert_dir / "sa.key",
        sa_pub=cert_dir / "sa.pub",
    )
    ca = _make_ca()
    _write_cert(pki.ca_cert, ca[0])
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    server = _make_leaf(ca, _name("localhost"), ExtendedKeyUsageOID.SERVER_AUTH, sans)
    _write_cert(pki.server_cert, server[0])
    _write_key(pki.server_key, server[1])
    client = _make_leaf(ca, _name("admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH)
    _write_cert(pki.client_cert, client[0])
    _write_key(pki.client_key, client[1])
    _write_sa_key(pki)
    return pki


def _write_sa_key(pki: Pki) -> None:
    key = _new_key()
    _write_key(pki.sa_key, key)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pki.sa_pub.write_bytes(pub)
