"""Fixtures that drive Debian's Chromium through Playwright's sync API against pytest-django's live server.

Chromium comes from Debian (`apt-get install chromium`), never from `playwright install`. Without it the
browser tests skip, unless TIERLINE_REQUIRE_BROWSER=1 (CI), in which case they fail.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from allauth.mfa.models import Authenticator
from django.core.cache import cache

from tests.conftest import World
from tests.factories import PASSWORD, totp_now, totp_secret

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"  # tests/artifacts/, git-ignored
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def _chromium_path() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("TIERLINE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TIERLINE_REQUIRE_BROWSER=1 but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def _async_unsafe_allowed() -> Iterator[None]:
    """Playwright's sync API keeps an event loop in this thread; Django would then refuse ORM calls.

    Session-scoped because the browser (and its loop) outlives each test, including the database
    flush that tears down `transactional_db`.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(_chromium_path: Path, _async_unsafe_allowed: None) -> Iterator:
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(_chromium_path), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()


# Init scripts run outside the page's CSP; this one makes every violation a console error, which Chromium
# also logs itself ("Refused to …"), so the `page` fixture sees both forms.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  const blocked = event.blockedURI || "inline";
  console.error(`CSP violation: ${event.violatedDirective} blocked ${blocked} at ${event.documentURI}`);
});
"""


def csp_violations(messages: list[str]) -> list[str]:
    return [text for text in messages if "Content Security Policy" in text or text.startswith("CSP violation")]


@pytest.fixture
def page(browser, live_server) -> Iterator:
    """A fresh browser context (no cookies) at desktop size; the test fails if any page broke the CSP.

    The cache is cleared first: login rate limits and used TOTP codes must not leak between tests.
    """
    cache.clear()
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text) if message.type == "error" else None)
    yield page
    context.close()
    assert csp_violations(messages) == [], "the content security policy blocked something"


@pytest.fixture
def live_port(live_server) -> int:
    return urlsplit(live_server.url).port


@pytest.fixture
def url_for(live_port: int) -> Callable[[World | str, str], str]:
    """`url_for(acme, "/admin/")` -> http://acme.localhost:<port>/admin/; a host string works too."""

    def make(world_or_host: World | str, path: str = "/") -> str:
        host = world_or_host.host if isinstance(world_or_host, World) else world_or_host
        return f"http://{host}:{live_port}{path}"

    return make


@pytest.fixture
def sign_in(url_for) -> Callable:
    """Signs `user` in on `world` through allauth's real login form, with their TOTP code when they have one
    (program staff, as tests/factories.py makes them); returns the response sign-in lands on."""

    def do(page, world: World, user, *, screenshot_as: str | None = None):
        page.goto(url_for(world, "/accounts/login/"))
        if screenshot_as:
            shoot(page, screenshot_as, check_overflow=True)
        form = page.locator("form", has=page.locator("input[name=login]"))
        form.locator("input[name=login]").fill(user.email)
        form.locator("input[name=password]").fill(PASSWORD)
        with page.expect_navigation() as navigation:
            form.locator("button[type=submit]").click()
        if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
            assert page.url == url_for(world, "/accounts/2fa/authenticate/")
            code = page.locator("input[name=code]")
            code.fill(totp_now(totp_secret(user)))
            with page.expect_navigation() as navigation:
                code.press("Enter")  # the form's default button; its other one cancels the sign-in
        return navigation.value

    return do


def horizontal_overflow(page) -> int:
    """How many CSS pixels the document is wider than the viewport (0 when it fits)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def shoot(page, name: str, *, check_overflow: bool = False) -> list[Path]:
    """Full-page screenshots at desktop and phone width as `<name>-<width>.png`; the viewport is restored after.

    With `check_overflow`, fails when the phone-width page scrolls sideways.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    paths = []
    try:
        for viewport in (DESKTOP, PHONE):
            page.set_viewport_size(viewport)
            path = SCREENSHOTS / f"{name}-{viewport['width']}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
            if check_overflow and viewport is PHONE:
                overflow = horizontal_overflow(page)
                assert overflow <= 0, f"{name} overflows horizontally by {overflow}px at {viewport['width']}px"
    finally:
        page.set_viewport_size(original)
    return paths
