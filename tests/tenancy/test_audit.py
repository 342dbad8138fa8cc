"""The tenant audit log: every admin change with who, what, and the values before and after."""

from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.test import Client

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry
from partners.models import Claim, PartnerType
from tests.admin_forms import change_form_data
from tests.conftest import World
from tests.partners.test_review_admin import pending_claim
from tiers.models import TierModel


def audit_entries(world: World) -> list[AuditEntry]:
    with tenant_context(world.tenant):
        return list(AuditEntry.objects.order_by("pk"))


def partner_form(client: Client, world: World, **changes: object) -> dict:
    return change_form_data(client.get(f"/admin/partners/partner/{world.partner.pk}/change/"), **changes)


def test_a_change_records_the_actor_and_each_changed_value_before_and_after(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    response = client.post(
        f"/admin/partners/partner/{acme.partner.pk}/change/",
        partner_form(client, acme, name="Renamed Reseller", region="Antarctica", account_manager=""),
    )

    assert response.status_code == 302
    [entry] = audit_entries(acme)
    assert (entry.actor, entry.action, entry.target_type, entry.target_id) == (
        acme.manager,
        AuditEntry.Action.CHANGE,
        "partners.partner",
        str(acme.partner.pk),
    )
    assert entry.target_repr == "Renamed Reseller"
    assert entry.changes["fields"] == {
        "name": {"before": "Acme Partner One", "after": "Renamed Reseller"},
        "region": {"before": acme.partner.region, "after": "Antarctica"},
        "account_manager": {"before": str(acme.account_manager), "after": None},
    }
    assert not LogEntry.objects.exists()  # Django's global log is not written by tenant admins


def test_an_unchanged_save_records_an_empty_change(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    client.post(f"/admin/partners/partner/{acme.partner.pk}/change/", partner_form(client, acme))

    [entry] = audit_entries(acme)
    assert entry.changes == {"fields": {}, "inlines": []}


def test_inline_rows_added_and_changed_are_recorded(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        model = TierModel.objects.create(name="Scorecard", version=2, effective_from=date(2027, 1, 1))
    prefix_tiers, prefix_paths = "tiers", "pathways"
    data = {
        "name": "Scorecard 2027",
        "version": model.version,
        "effective_from": model.effective_from.isoformat(),
        "window": model.window,
        "fiscal_year_start_month": model.fiscal_year_start_month,
        "downgrade": model.downgrade,
        "grace_days": model.grace_days,
        f"{prefix_tiers}-TOTAL_FORMS": 1,
        f"{prefix_tiers}-INITIAL_FORMS": 0,
        f"{prefix_tiers}-0-rank": 1,
        f"{prefix_tiers}-0-name": "Silver",
        f"{prefix_tiers}-0-minimum_score": "40",
        f"{prefix_tiers}-0-point_multiplier": "1.10",
        f"{prefix_tiers}-0-colour": "#999999",
        f"{prefix_paths}-TOTAL_FORMS": 0,
        f"{prefix_paths}-INITIAL_FORMS": 0,
    }

    response = client_for(acme, acme.manager).post(f"/admin/tiers/tiermodel/{model.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    [entry] = audit_entries(acme)
    assert entry.changes["fields"] == {"name": {"before": "Scorecard", "after": "Scorecard 2027"}}
    [inline] = entry.changes["inlines"]
    assert (inline["model"], inline["object"], inline["action"]) == ("tier", "Silver", "added")
    assert inline["fields"]["minimum_score"] == {"before": None, "after": "40"}


def test_a_deletion_keeps_every_value_of_the_deleted_row(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        kind = PartnerType.objects.create(code="installer", name="Installer")

    response = client_for(acme, acme.manager).post(f"/admin/partners/partnertype/{kind.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    [entry] = audit_entries(acme)
    assert (entry.action, entry.target_repr) == (AuditEntry.Action.DELETE, "Installer")
    assert entry.changes["fields"]["code"] == {"before": "installer"}


def test_review_actions_record_each_row_with_the_reason(acme: World, client_for) -> None:
    claim = pending_claim(acme)

    client_for(acme, acme.manager).post(
        "/admin/partners/claim/",
        {"action": "reject", ACTION_CHECKBOX_NAME: [claim.pk], "confirmed": "1", "reason": "No invoice attached"},
    )

    [entry] = audit_entries(acme)
    assert (entry.action, entry.target_type, entry.target_id) == (
        AuditEntry.Action.ACTION,
        "partners.claim",
        str(claim.pk),
    )
    assert entry.summary == "Rejected: No invoice attached"
    claim.refresh_from_db()
    assert claim.status == Claim.Status.REJECTED


def test_history_page_shows_the_audit_trail_of_the_object(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    client.post(f"/admin/partners/partner/{acme.partner.pk}/change/", partner_form(client, acme, region="APAC"))

    page = client.get(f"/admin/partners/partner/{acme.partner.pk}/history/")

    assert page.status_code == 200
    assert [entry.changes["fields"] for entry in page.context["entries"]] == [
        {"region": {"before": acme.partner.region, "after": "APAC"}}
    ]
    assert "APAC" in page.content.decode()


def test_another_tenants_history_and_audit_entries_stay_hidden(acme: World, globex: World, client_for) -> None:
    foreign = client_for(globex, globex.manager)
    foreign.post(
        f"/admin/partners/partner/{globex.partner.pk}/change/", partner_form(foreign, globex, region="Secret region")
    )
    client = client_for(acme, acme.manager)

    assert client.get(f"/admin/partners/partner/{globex.partner.pk}/history/").status_code == 404
    listing = client.get("/admin/tenancy/auditentry/")
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 0
    with tenant_context(globex.tenant):
        [entry] = AuditEntry.objects.all()
    assert client.get(f"/admin/tenancy/auditentry/{entry.pk}/change/").status_code == 302  # "does not exist" → index


def test_the_audit_log_is_readable_by_program_staff_only(acme: World, client_for) -> None:
    assert client_for(acme, acme.owner).get("/admin/tenancy/auditentry/").status_code == 200
    assert client_for(acme, acme.account_manager).get("/admin/tenancy/auditentry/").status_code == 403
    assert client_for(acme, acme.partner_admin).get("/admin/tenancy/auditentry/").status_code == 403


def test_audit_entries_cannot_be_changed_or_deleted(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    client.post(f"/admin/partners/partner/{acme.partner.pk}/change/", partner_form(client, acme))
    [entry] = audit_entries(acme)

    with tenant_context(acme.tenant):
        entry.summary = "rewritten"
        with pytest.raises(ValidationError):
            entry.save()
        with pytest.raises(ValidationError):
            entry.delete()
        assert AuditEntry.objects.get().summary == ""
