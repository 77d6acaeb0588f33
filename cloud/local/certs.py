"""The local stack's certificate authority: CA, broker, service and device certificates.

Everything is EC P-256 made with `cryptography`. The CA is created once per stack directory
and reused, so certificates issued earlier stay valid across `down`/`up`. Device certificates
carry the thing name as CN (the identity the broker and ACL use) and client-auth usage only.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud.local.service_mqtt import SERVICE_IDENTITY
from protocol.topics import check_thing_name

VALIDITY = datetime.timedelta(days=3650)
CA_NAME = "anc-local CA"
SERVER_NAME = "localhost"


@dataclass(frozen=True)
class KeyPair:
    cert_path: Path
    key_path: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written under a temporary name and renamed, so a reader never sees half a key.
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, path)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "anc-local"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


class LocalCA:
    """A CA rooted in `directory` (created on first use) that issues the stack's certificates."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = self.dir / "ca.crt"
        self._ca_key_path = self.dir / "ca.key"
        if not (self.ca_path.is_file() and self._ca_key_path.is_file()):
            self._create_ca()
        self._ca_cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
        loaded = serialization.load_pem_private_key(self._ca_key_path.read_bytes(), None)
        if not isinstance(loaded, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self._ca_key_path} is not an EC private key")
        self._ca_key = loaded

    def _create_ca(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(CA_NAME))
            .issuer_name(_name(CA_NAME))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_key(self._ca_key_path, key)
        _write_cert(self.ca_path, cert)

    def _issue(self, stem: str, common_name: str, usage: x509.ObjectIdentifier,
               san: list[x509.GeneralName] | None = None) -> KeyPair:
        pair = KeyPair(self.dir / f"{stem}.crt", self.dir / f"{stem}.key")
        if pair.cert_path.is_file() and pair.key_path.is_file():
            return pair
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self._ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(self._ca_key, hashes.SHA256())
        _write_key(pair.key_path, key)
        _write_cert(pair.cert_path, cert)
        return pair

    def server(self) -> KeyPair:
        """The broker's certificate: valid for `localhost` and 127.0.0.1."""
        return self._issue(
            "server", SERVER_NAME, ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )

    def service(self) -> KeyPair:
        """The emulator's identity (CN `anc-iot-core`), granted every device topic by the ACL."""
        return self._issue("service", SERVICE_IDENTITY, ExtendedKeyUsageOID.CLIENT_AUTH)

    def device(self, thing: str) -> KeyPair:
        """The certificate of one thing (CN = thing name), issued once and then reused."""
        check_thing_name(thing)
        if thing == SERVICE_IDENTITY:
            raise ValueError(f"thing name {thing!r} is reserved for the local IoT Core services")
        devices = self.dir / "devices"
        devices.mkdir(exist_ok=True)
        return self._issue(f"devices/{thing}", thing, ExtendedKeyUsageOID.CLIENT_AUTH)


def common_name(cert_path: Path) -> str:
    """The CN of a PEM certificate."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    value = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    return value if isinstance(value, str) else value.decode()
