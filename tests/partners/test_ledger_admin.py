"""The ledger in the tenant admin: read-only entries, adjustments with a reason, program settings."""

import pytest

from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.services import points_account_for, points_adjust
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from tests.conftest import World


@pytest.fixture
def account(acme: World):
    with tenant_context(acme.tenant):
        account = points_account_for(partner=acme.partner)
        points_adjust(
            partner=acme.partner, points=100, reason="Welcome bonus", actor=acme.manager, idempotency_key="w-1"
        )
    return account


def test_adjustment_posts_an_entry_with_reason_and_actor(acme: World, client_for, account) -> None:
    client = client_for(acme, acme.manager)
    page = client.get(f"/admin/ledger/pointsaccount/{account.pk}/adjust/")
    key = page.context["form"]["idempotency_key"].value()
    data = {"points": "-40", "reason": "Duplicate bonus", "idempotency_key": key, "confirm": "1"}
    assert client.post(f"/admin/ledger/pointsaccount/{account.pk}/adjust/", data).status_code == 302
    # A double submit of the same form posts nothing more.
    assert client.post(f"/admin/ledger/pointsaccount/{account.pk}/adjust/", data).status_code == 302
    with tenant_context(acme.tenant):
        entries = list(LedgerEntry.objects.filter(kind=EntryKind.ADJUST).values_list("points", "memo", "actor"))
    assert entries == [(100, "Welcome bonus", acme.manager.pk), (-40, "Duplicate bonus", acme.manager.pk)]


def test_adjustment_beyond_the_balance_is_refused(acme: World, client_for, account) -> None:
    response = client_for(acme, acme.manager).post(
        f"/admin/ledger/pointsaccount/{account.pk}/adjust/",
        {"points": "-101", "reason": "Too much", "idempotency_key": "adjust:x", "confirm": "1"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["points"] == ["The account holds 100 points; it cannot lose 101."]
    assert LedgerEntry.all_tenants.count() == 1


def test_adjustment_needs_a_reason(acme: World, client_for, account) -> None:
    response = client_for(acme, acme.manager).post(
        f"/admin/ledger/pointsaccount/{account.pk}/adjust/", {"points": "5", "reason": "", "idempotency_key": "k"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert LedgerEntry.all_tenants.count() == 1


def test_another_tenants_account_cannot_be_adjusted(acme: World, globex: World, client_for) -> None:
    with tenant_context(globex.tenant):
        foreign = points_account_for(partner=globex.partner)
    client = client_for(acme, acme.manager)
    assert client.get(f"/admin/ledger/pointsaccount/{foreign.pk}/adjust/").status_code == 404
    response = client.post(
        f"/admin/ledger/pointsaccount/{foreign.pk}/adjust/", {"points": "5", "reason": "x", "idempotency_key": "k"}
    )
    assert response.status_code == 404
    assert not LedgerEntry.all_tenants.filter(account=foreign).exists()


def test_entries_are_read_only_and_scoped(acme: World, globex: World, client_for, account) -> None:
    with tenant_context(globex.tenant):
        points_adjust(partner=globex.partner, points=7, reason="Globex", actor=globex.manager, idempotency_key="g-1")
    client = client_for(acme, acme.manager)
    listing = client.get("/admin/ledger/ledgerentry/")
    assert [entry.memo for entry in listing.context["cl"].result_list] == ["Welcome bonus"]
    entry = LedgerEntry.all_tenants.get(memo="Welcome bonus")
    detail = client.get(f"/admin/ledger/ledgerentry/{entry.pk}/change/")
    assert detail.status_code == 200
    assert b'name="points"' not in detail.content  # shown, not editable
    assert client.post(f"/admin/ledger/ledgerentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403


def test_program_settings_edit_only_the_current_tenant(acme: World, globex: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    assert (
        client.get("/admin/tenancy/programsettings/").url == f"/admin/tenancy/programsettings/{acme.tenant.pk}/change/"
    )
    assert client.get(f"/admin/tenancy/programsettings/{globex.tenant.pk}/change/").status_code == 302
    page = client.get(f"/admin/tenancy/programsettings/{acme.tenant.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data |= {"name": "Acme Renamed", "points_expiry": "never", "points_expiry_months": "24", "point_value": "0.02"}
    data.pop("logo")
    response = client.post(f"/admin/tenancy/programsettings/{acme.tenant.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Tenant.objects.get(pk=acme.tenant.pk).name == "Acme Renamed"
    assert Tenant.objects.get(pk=globex.tenant.pk).name == "Globex Program"
