"""The host's tenant and the member's membership, cached in Redis (loyalty/tenancy/caching.py): read once, then from
the cache; any write to a tenant, domain, membership or partner shows at once; two tenants never cross; nothing is
cached from a transaction that wrote; Redis down reads the database.

Transactional tests: inside the test's own transaction (pytest-django's default) every fixture's write is pending,
so the cache is (rightly) bypassed throughout.
"""

from collections.abc import Callable
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from enablement.models import Onboarding
from enablement.selectors import onboarding_get
from loyalty import cache as fail_open_cache
from loyalty.tenancy import caching
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Domain, Membership, Role, Tenant, User
from loyalty.tenancy.selectors import membership_for_user, tenant_for_host
from partners.models import Partner
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.portal.test_dashboard import silver_with_points
from tests.portal.test_dashboard_cache import per_response

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the tenancy cache is Redis's: set REDIS_URL"),
]

CUSTOM_HOST = "partners.acme-corp.example"


def membership_in(world: World, user: User) -> Membership | None:
    with tenant_context(world.tenant):
        return membership_for_user(user=user)


def tenancy_queries(captured: CaptureQueriesContext) -> list[str]:
    tables = ('"tenancy_tenant"', '"tenancy_domain"', '"tenancy_membership"')
    return [query["sql"] for query in captured.captured_queries if any(table in query["sql"] for table in tables)]


def test_the_hosts_tenant_and_the_membership_are_read_once_then_from_the_cache(
    acme: World, django_assert_num_queries
) -> None:
    assert tenant_for_host(host=acme.host) == acme.tenant
    assert membership_in(acme, acme.partner_user) is not None
    with django_assert_num_queries(0):
        tenant = tenant_for_host(host=acme.host)
        membership = membership_in(acme, acme.partner_user)
    assert tenant == acme.tenant
    assert (membership.tenant_id, membership.user_id) == (acme.tenant.pk, acme.partner_user.pk)
    assert (membership.role, membership.partner) == (Role.PARTNER_USER, acme.partner)


def test_a_cached_dashboard_reads_no_tenant_nor_membership(acme: World, client_for) -> None:
    """The bench's figure (bench/portal.py): a scored partner's cached dashboard in three queries."""
    scored = silver_with_points(acme, points=1200, earned_days_ago=10)
    client = client_for(scored, scored.partner_user)
    first = client.get("/").content.decode()
    with CaptureQueriesContext(connection) as captured:
        again = client.get("/").content.decode()
    assert tenancy_queries(captured) == []  # the team too comes from its cached fragment
    # session, user, the versions of the partner's standing and points; the page is one cached fragment
    # (tests/portal/test_dashboard_whole.py), the unread announcements and notifications count come from the cache
    # too (tests/tenancy/test_member_caches.py)
    assert len(captured.captured_queries) == 3, "\n".join(query["sql"] for query in captured.captured_queries)
    assert per_response(again) == per_response(first)


def test_an_unknown_host_is_cached_as_unknown_until_a_domain_names_it(acme: World) -> None:
    assert tenant_for_host(host=CUSTOM_HOST) is None
    assert tenant_for_host(host=CUSTOM_HOST) is None  # from the cache
    Domain.objects.create(tenant=acme.tenant, domain=CUSTOM_HOST)
    assert tenant_for_host(host=CUSTOM_HOST) == acme.tenant


def _domain_bulk_created(world: World) -> None:
    Domain.objects.bulk_create([Domain(tenant=world.tenant, domain=CUSTOM_HOST)])


def _domain_renamed_in_bulk(world: World) -> None:
    Domain.objects.filter(domain=CUSTOM_HOST).update(domain="elsewhere.example")


def _domain_deleted(world: World) -> None:
    Domain.objects.get(domain=CUSTOM_HOST).delete()


def _domains_deleted_in_bulk(world: World) -> None:
    Domain.objects.filter(tenant=world.tenant).delete()


@pytest.mark.parametrize(
    ("write", "exists_before", "resolves_after"),
    [
        (_domain_bulk_created, False, True),
        (_domain_renamed_in_bulk, True, False),
        (_domain_deleted, True, False),
        (_domains_deleted_in_bulk, True, False),
    ],
)
def test_each_write_of_a_domain_shows_at_once(
    acme: World, write: Callable[[World], None], exists_before: bool, resolves_after: bool
) -> None:
    if exists_before:
        Domain.objects.create(tenant=acme.tenant, domain=CUSTOM_HOST)
    assert tenant_for_host(host=CUSTOM_HOST) == (acme.tenant if exists_before else None)
    write(acme)
    assert tenant_for_host(host=CUSTOM_HOST) == (acme.tenant if resolves_after else None)


def test_a_tenant_saved_shows_at_once(acme: World) -> None:
    assert tenant_for_host(host=acme.host).name == "Acme Program"
    acme.tenant.name = "Acme Renamed"
    acme.tenant.save(update_fields=["name"])
    assert tenant_for_host(host=acme.host).name == "Acme Renamed"


def test_a_tenant_switched_off_in_bulk_stops_serving_at_once(acme: World, client_for) -> None:
    client = client_for(acme, acme.partner_user)
    assert client.get("/").status_code == 200
    Tenant.objects.filter(pk=acme.tenant.pk).update(is_active=False)
    assert tenant_for_host(host=acme.host) is None
    assert client.get("/").status_code == 404


def _role_saved(world: World) -> None:
    with tenant_context(world.tenant):
        membership = Membership.objects.get(user=world.partner_user)
        membership.role = Role.PARTNER_ADMIN
        membership.save(update_fields=["role"])


def _deactivated_in_bulk(world: World) -> None:
    with tenant_context(world.tenant):
        Membership.objects.filter(user=world.partner_user).update(is_active=False)


def _deleted(world: World) -> None:
    with tenant_context(world.tenant):
        Membership.objects.get(user=world.partner_user).delete()


def _partner_renamed(world: World) -> None:
    with tenant_context(world.tenant):
        partner = Partner.objects.get(pk=world.partner.pk)
        partner.name = "Renamed Partner"
        partner.save(update_fields=["name"])


def _partner_suspended_in_bulk(world: World) -> None:
    with tenant_context(world.tenant):
        Partner.objects.filter(pk=world.partner.pk).update(status=Partner.Status.SUSPENDED)


def _partner_renamed_by_bulk_update(world: World) -> None:
    with tenant_context(world.tenant):
        partner = Partner.objects.get(pk=world.partner.pk)
        partner.name = "Renamed Partner"
        Partner.objects.bulk_update([partner], ["name"])


def _seen(membership: Membership | None) -> Any:
    if membership is None:
        return None
    return (membership.role, membership.partner.name, membership.partner.status)


@pytest.mark.parametrize(
    ("write", "after"),
    [
        (_role_saved, (Role.PARTNER_ADMIN, "Acme Partner One", "active")),
        (_deactivated_in_bulk, None),
        (_deleted, None),
        (_partner_renamed, (Role.PARTNER_USER, "Renamed Partner", "active")),
        (_partner_suspended_in_bulk, (Role.PARTNER_USER, "Acme Partner One", "suspended")),
        (_partner_renamed_by_bulk_update, (Role.PARTNER_USER, "Renamed Partner", "active")),
    ],
)
def test_each_write_of_a_membership_or_its_partner_shows_at_once(
    acme: World, write: Callable[[World], None], after: Any
) -> None:
    assert _seen(membership_in(acme, acme.partner_user)) == (Role.PARTNER_USER, "Acme Partner One", "active")
    assert _seen(membership_in(acme, acme.partner_user)) == (Role.PARTNER_USER, "Acme Partner One", "active")
    write(acme)
    assert _seen(membership_in(acme, acme.partner_user)) == after


def test_the_programs_onboarding_settings_are_cached_and_each_write_shows_at_once(
    acme: World, django_assert_num_queries
) -> None:
    with tenant_context(acme.tenant):
        assert onboarding_get() is None
        with django_assert_num_queries(0):
            assert onboarding_get() is None
        onboarding = Onboarding.objects.create(steps=["profile"], window_days=30)
        assert onboarding_get().window_days == 30
        onboarding.window_days = 60
        onboarding.save(update_fields=["window_days"])
        assert onboarding_get().window_days == 60
        Onboarding.objects.update(is_active=False)
        assert onboarding_get().is_active is False
        with django_assert_num_queries(0):
            assert onboarding_get().tenant_id == acme.tenant.pk


def test_a_membership_created_in_bulk_shows_at_once(acme: World, outsider: User) -> None:
    assert membership_in(acme, outsider) is None  # cached as none
    with tenant_context(acme.tenant):
        Membership.objects.bulk_create([Membership(tenant=acme.tenant, user=outsider, role=Role.OWNER)])
    assert membership_in(acme, outsider).role == Role.OWNER


def test_partners_created_in_bulk_replace_the_generation(acme: World) -> None:
    before = caching.generation()
    with tenant_context(acme.tenant):
        Partner.objects.bulk_create([PartnerFactory.build(tenant=acme.tenant, partner_type=acme.partner_type)])
    assert caching.generation() not in {None, before}


def test_a_write_rolled_back_is_never_cached(acme: World, outsider: User) -> None:
    """Inside the transaction that wrote, reads skip the cache: its rows are not committed, and here never are."""
    assert membership_in(acme, outsider) is None

    seen_inside = []
    with transaction.atomic():
        with tenant_context(acme.tenant):
            Membership.objects.create(user=outsider, role=Role.OWNER)
        seen_inside.append(membership_in(acme, outsider))
        transaction.set_rollback(True)
    assert seen_inside[0].role == Role.OWNER  # the transaction saw its own write
    assert membership_in(acme, outsider) is None


def test_two_tenants_never_cross(acme: World, globex: World, client_for) -> None:
    with tenant_context(globex.tenant):
        Membership.objects.create(user=acme.partner_user, role=Role.OWNER)
    for _twice in range(2):
        assert tenant_for_host(host=acme.host) == acme.tenant
        assert tenant_for_host(host=globex.host) == globex.tenant
        assert (membership_in(acme, acme.partner_user).tenant_id, membership_in(acme, acme.partner_user).role) == (
            acme.tenant.pk,
            Role.PARTNER_USER,
        )
        assert (membership_in(globex, acme.partner_user).tenant_id, membership_in(globex, acme.partner_user).role) == (
            globex.tenant.pk,
            Role.OWNER,
        )
    for _twice in range(2):
        page = client_for(acme, acme.partner_user).get("/").content.decode()
        assert "Acme Partner One" in page
        assert "Globex" not in page
        assert client_for(globex, acme.partner_user).get("/").status_code == 302  # the owner's way: the program


def test_another_tenants_membership_under_this_tenants_key_is_never_served(acme: World, globex: World) -> None:
    """However it got there, a cached row of another tenant (or person) is refused and the database read."""
    foreign = membership_in(globex, globex.partner_user)
    generation = caching.generation()
    key = f"tenancy:{connection.settings_dict['NAME']}:membership:{acme.tenant.pk}:{acme.partner_user.pk}"
    cache.set(key, (generation, foreign), 60)
    assert cache.get(key)[1].tenant_id == globex.tenant.pk
    membership = membership_in(acme, acme.partner_user)
    assert (membership.tenant_id, membership.user_id, membership.partner) == (
        acme.tenant.pk,
        acme.partner_user.pk,
        acme.partner,
    )


def test_whether_staff_set_up_totp_is_read_live(acme: World, outsider: User, django_assert_num_queries) -> None:
    with tenant_context(acme.tenant):
        Membership.objects.create(user=outsider, role=Role.OWNER)
    assert membership_in(acme, outsider).has_totp is False
    Authenticator.objects.create(user=outsider, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"})
    with django_assert_num_queries(1):  # the membership from the cache, its TOTP from the database
        assert membership_in(acme, outsider).has_totp is True


def test_with_redis_down_every_read_goes_to_the_database(
    acme: World, globex: World, settings, client_for, django_assert_num_queries
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "loyalty.cache.FailOpenRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    fail_open_cache.outage.is_down = False
    try:
        for _twice in range(2):
            with django_assert_num_queries(1):
                assert tenant_for_host(host=acme.host) == acme.tenant
            with django_assert_num_queries(1):
                assert membership_in(globex, globex.partner_user).tenant_id == globex.tenant.pk
        page = client_for(acme, acme.partner_user).get("/").content.decode()
        assert "Acme Partner One" in page
        assert "Globex" not in page
    finally:
        fail_open_cache.outage.is_down = False


def test_a_per_process_cache_is_not_used(acme: World, settings, django_assert_num_queries) -> None:
    """A per-process cache (the embedded default) would miss other processes' writes: it is not used."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    tenant_for_host(host=acme.host)
    with django_assert_num_queries(1):
        tenant_for_host(host=acme.host)


def test_one_redis_client_per_connection_pool() -> None:
    backend = caches["default"]._cache
    assert backend.get_client(write=True) is backend.get_client(write=True)
    assert backend.get_client() is backend.get_client()


def test_a_membership_deleted_with_its_user_shows_at_once(acme: World) -> None:
    """The collector deletes a user's memberships in SQL, past `Membership.delete`: another process kept serving the
    membership of the user deleted (and so its role) for a minute."""
    leaving = User.objects.get(pk=acme.partner_user.pk)
    assert membership_in(acme, leaving) is not None
    assert membership_in(acme, leaving) is not None  # from the cache
    User.objects.filter(pk=leaving.pk).delete()
    assert membership_in(acme, leaving) is None
