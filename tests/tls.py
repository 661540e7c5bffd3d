"""Certificates for tests that run servers over TLS, made with openssl in a folder of the
test's: a CA (`<name>.pem`, `<name>.key`) and a server certificate it signs."""

from __future__ import annotations

import subprocess
from pathlib import Path


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
            f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem", cwd=folder)  # fmt: skip


def make_server_cert(folder: Path) -> None:
    """server.crt for 127.0.0.1 and localhost, signed by ca.pem; its key (PKCS#8, not
    encrypted) in server.key, and both in server.pem, key first (a PEM keystore)."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=folder)  # fmt: skip
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-extfile", "san.cnf", "-out", "server.crt",
            cwd=folder)  # fmt: skip
    key, cert = (folder / "server.key").read_text(), (folder / "server.crt").read_text()
    (folder / "server.pem").write_text(key + cert)
