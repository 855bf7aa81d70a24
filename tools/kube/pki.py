"""Certificates for a throwaway control plane, made with the `openssl` command.

One CA signs every serving and client certificate; keys are ECDSA P-256, which etcd,
the API server and kubectl all accept and which openssl makes in milliseconds.
"""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = jobq
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
"""

DAYS = 365


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _new_key(path: Path) -> Path:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    path.chmod(0o600)
    return path


class Pki:
    """A certificate authority in a folder, issuing certificates into the same folder."""

    def __init__(self, folder: Path, name: str = "jobq-local-ca"):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._config = folder / "openssl.cnf"
        self._config.write_text(_CONFIG)
        key = _new_key(folder / "ca.key")
        cert = folder / "ca.crt"
        _openssl(
            "req", "-new", "-x509", "-key", key, "-out", cert, "-days", str(DAYS),
            "-subj", f"/CN={name}", "-config", self._config, "-extensions", "ca",
        )  # fmt: skip
        self.ca = KeyPair(cert, key)

    def issue(
        self,
        name: str,
        common_name: str,
        *,
        organization: str | None = None,
        hosts: tuple[str, ...] = (),
        server: bool = False,
        client: bool = False,
    ) -> KeyPair:
        """A certificate signed by the CA: `hosts` (IPs or DNS names) become its subject alternative names."""
        key = _new_key(self.folder / f"{name}.key")
        csr = self.folder / f"{name}.csr"
        subject = (f"/O={organization}" if organization else "") + f"/CN={common_name}"
        _openssl("req", "-new", "-key", key, "-subj", subject, "-config", self._config, "-out", csr)

        usages = [u for u, wanted in (("serverAuth", server), ("clientAuth", client)) if wanted]
        extensions = [
            "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature",
            f"extendedKeyUsage = {','.join(usages)}",
            "authorityKeyIdentifier = keyid",
        ]
        if hosts:
            extensions.append("subjectAltName = " + ",".join(_san(h) for h in hosts))
        ext = self.folder / f"{name}.ext"
        ext.write_text("\n".join(extensions) + "\n")

        cert = self.folder / f"{name}.crt"
        _openssl(
            "x509", "-req", "-in", csr, "-CA", self.ca.cert, "-CAkey", self.ca.key,
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(DAYS), "-extfile", ext, "-out", cert,
        )  # fmt: skip
        csr.unlink()
        ext.unlink()
        return KeyPair(cert, key)

    def signing_key(self, name: str) -> KeyPair:
        """A bare key pair (public key in `cert`), as service-account tokens are signed with."""
        key = _new_key(self.folder / f"{name}.key")
        public = self.folder / f"{name}.pub"
        _openssl("pkey", "-in", key, "-pubout", "-out", public)
        return KeyPair(public, key)


def _san(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host}"
