"""The local CA: key types, names and usages IoT Core clients and the broker rely on."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from cloud.local.certs import LocalCA, common_name
from protocol.topics import TopicError


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_certificate_names_localhost_and_loopback(tmp_path: Path) -> None:
    server = load(LocalCA(tmp_path).server().cert_path)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    key = server.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"


def test_device_certificate_is_the_thing_with_client_auth_only(tmp_path: Path) -> None:
    ca = LocalCA(tmp_path)
    pair = ca.device("headset-1")
    cert = load(pair.cert_path)
    assert common_name(pair.cert_path) == "headset-1"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.issuer == load(ca.ca_path).subject
    assert oct(pair.key_path.stat().st_mode & 0o777) == "0o600"


def test_certificates_are_issued_once_and_the_ca_is_reused(tmp_path: Path) -> None:
    first = LocalCA(tmp_path).device("headset-1").cert_path.read_bytes()
    ca_again = LocalCA(tmp_path)
    assert ca_again.device("headset-1").cert_path.read_bytes() == first
    assert ca_again.device("headset-2").cert_path.read_bytes() != first


@pytest.mark.parametrize("thing", ["", "a/b", "x" * 65, "#", "héllo"])
def test_bad_thing_names_are_refused(tmp_path: Path, thing: str) -> None:
    with pytest.raises(TopicError, match="thing name"):
        LocalCA(tmp_path).device(thing)


def test_service_identity_is_reserved(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        LocalCA(tmp_path).device("anc-iot-core")
