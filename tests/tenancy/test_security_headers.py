"""The production settings profile: `check --deploy` is clean, and each security header and cookie flag is sent.

The production profile is what `loyalty/settings.py` reads from a production environment (no DJANGO_DEBUG,
TIERLINE_HTTPS=1, a long random key). It is loaded in a child process, because the test run itself is http.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import World

ROOT = Path(__file__).resolve().parents[2]
# Variables whose test values (pyproject's pytest-env) would turn the production profile off.
# Set by the test run, never in production (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for Playwright's loop).
TEST_ONLY_VARIABLES = (
    "DJANGO_DEBUG",
    "TIERLINE_HTTPS",
    "TIERLINE_STATIC_MANIFEST",
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)

# Fetches the platform's sign-in page over https with the production settings and prints its headers and cookies.
# The page needs no database: no tenant, no signed-in user.
FETCH_LOGIN_PAGE = """
import json, django
django.setup()
from django.test import Client
response = Client(HTTP_HOST="localhost").get("/accounts/login/", secure=True)
print(json.dumps({
    "status": response.status_code,
    "headers": dict(response.headers),
    "cookies": {name: morsel.OutputString() for name, morsel in response.cookies.items()},
    "plain_http": Client(HTTP_HOST="localhost").get("/accounts/login/").status_code,
}))
"""


def production_environment() -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name not in TEST_ONLY_VARIABLES}
    environment.update(
        DJANGO_SETTINGS_MODULE="loyalty.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        TIERLINE_HTTPS="1",
        TIERLINE_STATIC_MANIFEST="0",  # no collectstatic here; the manifest storage is for deployments
    )
    return environment


def run_in_production(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, *arguments],
        cwd=ROOT,
        env=production_environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_deploy_is_clean_in_production() -> None:
    result = run_in_production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_on_a_warning() -> None:
    """The check above can fail: a short secret key is a warning, and --fail-level WARNING makes it an error."""
    environment = production_environment() | {"DJANGO_SECRET_KEY": "short"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "security.W009" in result.stderr


@pytest.fixture(scope="module")
def production_response() -> dict:
    result = run_in_production("-c", FETCH_LOGIN_PAGE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_redirects_plain_http_to_https(production_response: dict) -> None:
    assert production_response["status"] == 200
    assert production_response["plain_http"] == 301


def test_hsts_covers_subdomains_and_may_be_preloaded(production_response: dict) -> None:
    assert production_response["headers"]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_referrer_policy(production_response: dict) -> None:
    assert production_response["headers"]["Referrer-Policy"] == "same-origin"


def test_frames_are_refused(production_response: dict) -> None:
    headers = production_response["headers"]
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_content_type_sniffing_is_off(production_response: dict) -> None:
    assert production_response["headers"]["X-Content-Type-Options"] == "nosniff"


def test_cross_origin_opener_policy(production_response: dict) -> None:
    assert production_response["headers"]["Cross-Origin-Opener-Policy"] == "same-origin"


def test_csrf_cookie_is_secure_httponly_and_same_site(production_response: dict) -> None:
    cookie = SimpleCookie(production_response["cookies"]["csrftoken"])["csrftoken"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_csp_is_enforced_not_report_only(production_response: dict) -> None:
    headers = production_response["headers"]
    assert "Content-Security-Policy" in headers
    assert "Content-Security-Policy-Report-Only" not in headers


def _directives(header: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.django_db
def test_csp_allows_scripts_and_styles_only_from_here_or_with_the_nonce(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_user).get("/")
    assert response.status_code == 200
    directives = _directives(response["Content-Security-Policy"])
    nonce = re.search(r"'nonce-([^']+)'", directives["script-src"][-1]).group(1)
    assert directives["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert directives["style-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    # The tenant's brand colour is the page's one inline <style>, and it carries this response's nonce.
    html = response.content.decode()
    assert f'<style nonce="{nonce}">:root {{ --brand: {acme.tenant.brand_colour}; }}</style>' in html
    assert "unsafe-inline" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_each_response_gets_a_fresh_nonce(acme: World, client_for) -> None:
    client = client_for(acme, acme.partner_user)
    first, second = (client.get("/")["Content-Security-Policy"] for _ in range(2))
    assert re.search(r"'nonce-[^']+'", first).group() != re.search(r"'nonce-[^']+'", second).group()


def test_session_cookie_flags_in_this_process_match_production_rules() -> None:
    """The session cookie is never readable by scripts; Secure follows TIERLINE_HTTPS (off for the test run)."""
    assert settings.SESSION_COOKIE_HTTPONLY is True
    assert settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.SESSION_COOKIE_SECURE is settings.HTTPS


@pytest.mark.django_db
def test_session_cookie_is_secure_httponly_and_same_site_in_production(acme: World, settings) -> None:
    """Signing in sets the session cookie with every flag the production profile sets."""
    settings.SESSION_COOKIE_SECURE = True
    settings.SECURE_SSL_REDIRECT = True
    client = Client(HTTP_HOST=acme.host)
    response = client.post(
        "/accounts/login/", {"login": acme.partner_user.email, "password": "correct-horse-battery-staple"}, secure=True
    )
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


TEMPLATE_DIRS = [ROOT / "templates"]
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE)
UNNONCED_INLINE = re.compile(r"<(script|style)(?![^>]*\b(nonce|src)=)[^>]*>", re.IGNORECASE)
# Emails are read in mail clients, not under our CSP; they need inline styles.
NOT_UNDER_CSP = {"notifications/email.html"}


@pytest.mark.parametrize(
    "template",
    sorted(
        str(path.relative_to(directory))
        for directory in TEMPLATE_DIRS
        for path in directory.rglob("*.html")
        if str(path.relative_to(directory)) not in NOT_UNDER_CSP
    ),
)
def test_templates_have_no_inline_handlers_styles_or_unnonced_scripts(template: str) -> None:
    source = (ROOT / "templates" / template).read_text()
    assert not INLINE_HANDLER.search(source), "an on*= handler: move it to a script file"
    assert not STYLE_ATTRIBUTE.search(source), "a style= attribute: use a class, or an SVG presentation attribute"
    assert not UNNONCED_INLINE.search(source), 'an inline <script>/<style> without nonce="{{ request.csp_nonce }}"'
