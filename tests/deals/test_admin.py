"""The deal registrations admin: the review queue with conflicts, bulk approve and reject, program staff only."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages

from deals.models import DealRegistration, DealSettings
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.conftest import World
from tests.deals.factories import register

QUEUE = "/admin/deals/dealregistration/"


def messages_of(response) -> list[str]:  # noqa: ANN001 - a test client response
    return [str(message) for message in get_messages(response.wsgi_request)]


def statuses(world: World) -> dict[str, str]:
    with tenant_context(world.tenant):
        return dict(DealRegistration.objects.values_list("customer_name", "status"))


def test_the_queue_lists_this_tenants_submitted_registrations_with_their_conflicts(
    acme: World, globex: World, client_for
) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="ACME Corp.")
        second = register(acme.unmanaged_partner, customer_name="Acme Corporation")
    with tenant_context(globex.tenant):
        theirs = register(globex.partner, customer_name="ACME Corp.")

    response = client_for(acme, acme.manager).get(QUEUE, {"status__exact": "submitted"})

    assert response.status_code == 200
    rows = {row.pk: row.conflict_count for row in response.context["cl"].result_list}
    assert rows == {first.pk: 0, second.pk: 1}
    assert client_for(acme, acme.manager).get(f"{QUEUE}{theirs.pk}/change/").status_code == 302  # not here
    page = client_for(acme, acme.manager).get(f"{QUEUE}{second.pk}/change/")
    assert page.status_code == 200
    assert b"Same name once normalised" in page.content


def test_bulk_approve_protects_the_first_and_reports_the_conflict_on_the_second(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        first = register(acme.partner, customer_name="ACME Corp.")
        second = register(acme.unmanaged_partner, customer_name="Acme Corporation")

    response = client_for(acme, acme.manager).post(
        QUEUE, {"action": "approve", ACTION_CHECKBOX_NAME: [first.pk, second.pk]}
    )

    assert response.status_code == 302
    messages = messages_of(response)
    assert messages[-1] == "1 approved."
    assert "already protects this customer" in messages[0]
    assert statuses(acme) == {"ACME Corp.": "approved", "Acme Corporation": "submitted"}


def test_bulk_reject_asks_for_a_reason_first(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        deal = register(acme.partner, customer_name="Initech")
    client = client_for(acme, acme.manager)

    ask = client.post(QUEUE, {"action": "reject", ACTION_CHECKBOX_NAME: [deal.pk]})
    assert ask.status_code == 200
    assert statuses(acme) == {"Initech": "submitted"}

    done = client.post(
        QUEUE, {"action": "reject", ACTION_CHECKBOX_NAME: [deal.pk], "confirmed": "1", "reason": "Direct account"}
    )
    assert done.status_code == 302
    assert statuses(acme) == {"Initech": "rejected"}


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_only_program_staff_reach_the_queue(acme: World, client_for, role: Role) -> None:
    response = client_for(acme, acme.user_for(role)).get(QUEUE)
    assert response.status_code in (302, 403)
    assert statuses(acme) == {}


def test_a_second_settings_row_is_a_form_error(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    values = {
        "conflict_policy": "reviewer",
        "default_protection_days": "45",
        "recently_won_days": "90",
        "scorecard_counts": "won",
        "reminder_days": "7",
    }
    assert client.post("/admin/deals/dealsettings/add/", values).status_code == 302
    second = client.post("/admin/deals/dealsettings/add/", values)
    assert second.status_code == 200
    assert b"already has its deal settings" in second.content
    with tenant_context(acme.tenant):
        assert list(DealSettings.objects.values_list("conflict_policy", "default_protection_days")) == [
            ("reviewer", 45)
        ]
