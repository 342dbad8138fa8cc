"""API test helpers: keys with chosen scopes, clients on a tenant's host, and one object of every kind per tenant."""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from api.models import SCOPES, ApiKey
from api.services import api_key_create
from deals.models import DealRegistration
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import User
from partners.models import Activity, ExchangeRate
from partners.services import activity_record
from rewards.models import Redemption, Reward
from tests.browser.conftest import (  # noqa: F401 - tests/browser's function-scoped fixtures, for test_browser.py
    CHROMIUM_ARGS,
    _chromium_path,
    live_port,
    page,
    sign_in,
    url_for,
)
from tests.conftest import World
from tests.deals.factories import register
from tests.rewards.factories import RewardFactory, give_points, redeem
from tests.tiers.factories import revenue_program
from tiers.models import TierModel

ALL_SCOPES = sorted(SCOPES)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    """Throttle counts live in the shared cache; each test starts from none."""
    cache.clear()


def make_key(
    world: World, scopes: list[str] | None = None, created_by: User | None = None, **fields
) -> tuple[ApiKey, str]:
    """A key of `world`'s tenant (every scope unless given), made by its program manager unless told otherwise."""
    author = world.manager if created_by is None else created_by
    with tenant_context(world.tenant):
        created = api_key_create(name="Test key", scopes=scopes or ALL_SCOPES, created_by=author, **fields)
    return created.api_key, created.token


def api_client(world: World, token: str | None = None, *, host: str | None = None) -> Client:
    """A client on `world`'s host (or `host`), sending `token` as a bearer key when given."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client(HTTP_HOST=host or world.host, **headers)


@pytest.fixture
def acme_key(acme: World) -> str:
    return make_key(acme)[1]


@pytest.fixture
def acme_api(acme: World, acme_key: str) -> Client:
    return api_client(acme, acme_key)


@dataclass
class Objects:
    """One object of every kind the API exposes, in one tenant: what the access matrix aims at."""

    world: World
    activity: Activity
    entry: LedgerEntry
    reward: Reward
    redemption: Redemption
    tier_model: TierModel
    deal: DealRegistration
    rate: ExchangeRate


def populate(world: World) -> Objects:
    """Points, a pending sale, a reward needing approval with a requested redemption, a tier model, a deal and an
    exchange rate."""
    with tenant_context(world.tenant):
        entry = give_points(world.partner, 1_000, f"seed:{world.tenant.slug}")
        activity = activity_record(
            partner=world.partner,
            kind="sale",
            occurred_at=timezone.now() - timedelta(days=1),
            source=Activity.Source.API,
            external_id=f"{world.tenant.slug}-sale-1",
            amount=Decimal("250.00"),
            currency=world.tenant.currency,
        ).activity
        reward = RewardFactory(requires_approval=True, points_cost=100)
        redemption = redeem(world.partner, world.partner_admin, reward, f"seed-redeem:{world.tenant.slug}")
        program = revenue_program()
        deal = register(world.partner, world.partner_user, customer_name=f"Customer of {world.tenant.slug}")
        rate = ExchangeRate.objects.create(currency="EUR", day=timezone.localdate(), rate=Decimal("1.08"))
    return Objects(world, activity, entry, reward, redemption, program.model, deal, rate)


@pytest.fixture
def acme_objects(acme: World) -> Objects:
    return populate(acme)


@pytest.fixture
def globex_objects(globex: World) -> Objects:
    return populate(globex)


@pytest.fixture(scope="module")
def browser(_chromium_path: Path) -> Iterator:  # noqa: F811 - the fixture imported above
    """Chromium for this module only, closed when it ends.

    tests/browser's `browser` is session-scoped: a second copy of it imported here would keep Playwright's event
    loop running in this thread for the whole session, and every later browser test would fail to start its own.
    """
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only when Chromium is there

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop lives in this thread (see tests/browser)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(_chromium_path), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
