"""A real SAML identity provider for the tests: pysaml2's IdP server, signing with its own key (Debian's xmlsec1).

It reads our SP metadata (as the IdP's administrator would load it), parses the AuthnRequest our login sent,
and answers with a signed response and assertion for the person the test names.
"""

import base64
import datetime
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

ENTITY_ID = "https://idp.acme.test/saml/metadata"
SSO_URL = "https://idp.acme.test/saml/sso"


def self_signed(directory: Path, name: str) -> tuple[Path, Path, str]:
    """A key and a self-signed certificate (files), and the certificate's PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    cert_path.write_text(pem)
    return key_path, cert_path, pem


@dataclass
class SamlIdentityProvider:
    directory: Path
    entity_id: str = ENTITY_ID

    def __post_init__(self) -> None:
        self.key_path, self.cert_path, self.certificate = self_signed(self.directory, "idp")

    def server(self, sp_metadata: str) -> Server:
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(SSO_URL, BINDING_HTTP_REDIRECT)]},
                        "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI}},
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    }
                },
                "key_file": str(self.key_path),
                "cert_file": str(self.cert_path),
                "xmlsec_binary": shutil.which("xmlsec1"),
                "metadata": {"inline": [sp_metadata]},
                "allow_unknown_attributes": True,
            }
        )
        return Server(config=config)

    def answer(
        self,
        redirect_url: str,
        *,
        sp_metadata: str,
        email: str,
        uid: str,
        extra: dict | None = None,
        sign_with: "SamlIdentityProvider | None" = None,
    ) -> tuple[str, dict]:
        """The ACS URL and the POST a browser would carry there: a signed response to our AuthnRequest."""
        query = parse_qs(urlsplit(redirect_url).query)
        server = (sign_with or self).server(sp_metadata)
        request = server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT).message
        acs_url = request.assertion_consumer_service_url
        identity = {"urn:oid:0.9.2342.19200300.100.1.3": [email], "urn:oid:2.5.4.42": ["Lucía"], **(extra or {})}
        response = server.create_authn_response(
            identity=identity,
            in_response_to=request.id,
            destination=acs_url,
            sp_entity_id=request.issuer.text,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=uid),
            authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
            sign_response=True,
            sign_assertion=True,
            sign_alg=SIG_RSA_SHA256,  # SHA-1 signatures are refused, as they should be
            digest_alg=DIGEST_SHA256,
        )
        body = {"SAMLResponse": base64.b64encode(str(response).encode()).decode()}
        if "RelayState" in query:
            body["RelayState"] = query["RelayState"][0]
        return acs_url, body
