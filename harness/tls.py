"""TLS material for a Docker engine that listens on TCP with ``--tlsverify``: a private CA, a server
certificate for the engine's names and addresses, and a client certificate, written as PEM files in
the layout dockerd and the Docker clients expect.

``folder/ca.pem``, ``folder/cert.pem``, ``folder/key.pem``   the client's: ``DOCKER_CERT_PATH=folder``
``folder/server/{ca,cert,key}.pem``                          the engine's: ``--tlscacert --tlscert --tlskey``

The CA's key is never written: nothing else is ever signed with it. Keys are ECDSA P-256, files
holding a key are mode 0600. Command line, for a real board's engine::

    python -m harness.tls FOLDER --host board.local --host 192.168.1.20 [--days 30]
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_DAYS = 2
"""Validity of generated certificates, in days (a test engine lives for minutes)."""
CLOCK_SKEW_S = 300
"""Seconds certificates are valid *before* their creation, for an engine whose clock lags."""


@dataclass(frozen=True)
class TlsFiles:
    """Where :func:`write_tls_material` put the files (absolute paths)."""

    client_dir: Path
    """``DOCKER_CERT_PATH``: ca.pem, cert.pem, key.pem."""
    server_ca: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def in_folder(cls, folder: Path) -> "TlsFiles":
        """The paths :func:`write_tls_material` uses under ``folder`` (whether written or not)."""
        folder = Path(folder).resolve()
        return cls(folder, folder / "server" / "ca.pem", folder / "server" / "cert.pem", folder / "server" / "key.pem")

    @property
    def client_cert(self) -> tuple[str, str]:
        """(cert.pem, key.pem) as ``docker.tls.TLSConfig(client_cert=...)`` takes them."""
        return str(self.client_dir / "cert.pem"), str(self.client_dir / "key.pem")

    @property
    def ca_cert(self) -> str:
        return str(self.client_dir / "ca.pem")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "startle"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def subject_alternative_names(hosts: list[str]) -> list[x509.GeneralName]:
    """Each host as an IP address entry when it parses as one, else as a DNS name."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _certificate(subject: x509.Name, issuer: x509.Name, public_key, signing_key, days: int,
                 extensions: list[tuple[x509.ExtensionType, bool]]) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(seconds=CLOCK_SKEW_S))
               .not_valid_after(now + datetime.timedelta(days=days)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def _leaf_usage(purpose: x509.ObjectIdentifier) -> list[tuple[x509.ExtensionType, bool]]:
    return [(x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                           data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                           encipher_only=False, decipher_only=False), True),
            (x509.ExtendedKeyUsage([purpose]), False)]


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    path.chmod(0o600 if private else 0o644)


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_tls_material(folder: Path, hosts: list[str], days: int = DEFAULT_DAYS) -> TlsFiles:
    """A fresh CA, a server certificate valid for ``hosts`` (names or IP addresses), and a client
    certificate, written under ``folder`` (created; existing files are replaced)."""
    if not hosts:
        raise ValueError("the server certificate needs at least one host name or address")
    folder = Path(folder).resolve()
    server_dir = folder / "server"
    server_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    ca_key = _key()
    ca_name = _name("startle test CA")
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, days,
                      [(x509.BasicConstraints(ca=True, path_length=0), True),
                       (x509.KeyUsage(digital_signature=False, key_encipherment=False, content_commitment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                      crl_sign=True, encipher_only=False, decipher_only=False), True)])
    server_key, client_key = _key(), _key()
    server = _certificate(_name(hosts[0]), ca_name, server_key.public_key(), ca_key, days,
                          _leaf_usage(ExtendedKeyUsageOID.SERVER_AUTH)
                          + [(x509.SubjectAlternativeName(subject_alternative_names(hosts)), False)])
    client = _certificate(_name("startle client"), ca_name, client_key.public_key(), ca_key, days,
                          _leaf_usage(ExtendedKeyUsageOID.CLIENT_AUTH))
    _write(folder / "ca.pem", _pem(ca))
    _write(folder / "cert.pem", _pem(client))
    _write(folder / "key.pem", _key_pem(client_key), private=True)
    _write(server_dir / "ca.pem", _pem(ca))
    _write(server_dir / "cert.pem", _pem(server))
    _write(server_dir / "key.pem", _key_pem(server_key), private=True)
    return TlsFiles.in_folder(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.tls", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to write the files (client's in it, engine's in server/)")
    parser.add_argument("--host", action="append", required=True,
                        help="a name or IP address the engine is reached at (repeat for each)")
    parser.add_argument("--days", type=int, default=30, help="validity in days (default 30)")
    args = parser.parse_args(argv)
    files = write_tls_material(args.folder, args.host, args.days)
    print(f"tls: engine: dockerd --tlsverify --tlscacert {files.server_ca} --tlscert {files.server_cert} "
          f"--tlskey {files.server_key} -H tcp://0.0.0.0:2376")
    print(f"tls: client: DOCKER_HOST=tcp://{args.host[0]}:2376 DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={files.client_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
