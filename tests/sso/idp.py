"""Real identity providers for the tests: a django-oauth-toolkit OpenID Connect provider in its own process."""

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class OidcProvider:
    """A running test OpenID Connect provider at `base_url` (issuer `issuer`)."""

    base_url: str

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/o"

    def register_client(self, *, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        body = {"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris}
        requests.post(f"{self.base_url}/test/clients/", json=body, timeout=10).raise_for_status()

    def misbehave(self, mode: str) -> None:
        requests.post(f"{self.base_url}/test/misbehave/", data={"mode": mode}, timeout=10).raise_for_status()

    def authorize(self, authorize_url: str, *, email: str, role: str = "", partner: str = "") -> str:
        """Sign in at the provider as `email` and follow it to the relying party: the callback URL it returns to."""
        with requests.Session() as browser:
            response = browser.get(authorize_url, allow_redirects=False, timeout=10)
            assert response.status_code == 302, response.text[:500]
            login_url = response.headers["Location"]
            next_url = parse_qs(urlsplit(login_url).query)["next"][0]
            response = browser.post(
                f"{self.base_url}/login/",
                data={"email": email, "role": role, "partner": partner, "next": next_url},
                allow_redirects=False,
                timeout=10,
            )
            response = browser.get(f"{self.base_url}{response.headers['Location']}", allow_redirects=False, timeout=10)
            assert response.status_code == 302, response.text[:500]
            return response.headers["Location"]


@contextmanager
def oidc_provider_running(tmp_dir: Path) -> Iterator[OidcProvider]:
    """Start the provider (tests/sso/oidc_idp) on a free port with a fresh RSA key and database; stop it after."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    port = free_port()
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "DATABASE_"))},
        "OIDC_IDP_DATABASE": str(tmp_dir / "idp.sqlite3"),
        "OIDC_IDP_PRIVATE_KEY": pem,
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.sso.oidc_idp.serve", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.strip() == "READY", f"the test identity provider did not start (exit {process.poll()})"
        yield OidcProvider(base_url=f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=10)
