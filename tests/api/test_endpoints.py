"""What each endpoint answers and writes, through the API as an integration calls it; refusals write nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.services import api_key_create
from loyalty.ledger.models import EntryKind, LedgerEntry
from loyalty.ledger.selectors import ledger_verify
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, Partner
from rewards.models import Redemption
from tests.api.conftest import Objects, api_client, make_key
from tests.conftest import World
from tests.factories import MembershipFactory, PartnerTypeFactory
from tests.ledger.factories import is_postgresql
from tests.partners.helpers import sales_rule
from tests.rewards.factories import RewardFactory, give_points, rewards_snapshot
from tests.support import run_concurrently


def snapshot(world: World) -> dict:
    with tenant_context(world.tenant):
        return {
            **rewards_snapshot(),
            "partners": list(Partner.objects.order_by("pk").values()),
            "activities": list(Activity.objects.order_by("pk").values_list("pk", "status")),
        }


def moment(days_ago: int) -> str:
    return (timezone.now() - timedelta(days=days_ago)).isoformat()


# --- Errors ------------------------------------------------------------------------------------------------------


def test_unknown_api_paths_are_404_in_the_error_shape(acme: World, acme_api) -> None:
    response = acme_api.get("/api/v1/nothing/here/")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"type": "not_found", "code": "not_found", "message": "No such endpoint. See /api/v1/docs/."}
    }


def test_a_malformed_body_is_a_validation_error(acme: World, acme_api) -> None:
    response = acme_api.post("/api/v1/ledger/adjustments/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "validation_error"


def test_a_form_body_is_415(acme: World, acme_api) -> None:
    response = acme_api.put(f"/api/v1/partners/{acme.partner.external_id}/", "name=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["type"] == "unsupported_media_type"


def test_an_unsupported_method_is_405(acme: World, acme_api) -> None:
    response = acme_api.delete("/api/v1/partners/")
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "method_not_allowed"


# --- Partners ----------------------------------------------------------------------------------------------------


def test_partners_list_filters_and_orders(acme: World, acme_api) -> None:
    with tenant_context(acme.tenant):
        Partner.objects.filter(pk=acme.unmanaged_partner.pk).update(status=Partner.Status.SUSPENDED)
    response = acme_api.get("/api/v1/partners/?status=suspended")
    assert [row["external_id"] for row in response.json()["results"]] == [acme.unmanaged_partner.external_id]
    response = acme_api.get("/api/v1/partners/?ordering=name")
    assert [row["name"] for row in response.json()["results"]] == ["Acme Partner One", "Acme Partner Two"]
    assert response.json()["results"][0] == {
        "id": acme.partner.pk,
        "external_id": acme.partner.external_id,
        "name": "Acme Partner One",
        "partner_type": "reseller",
        "region": "EMEA",
        "segment": "",
        "account_manager": "am@acme.test",
        "joined_at": acme.partner.joined_at.isoformat(),
        "status": "active",
    }


def test_cursor_pagination_walks_every_row_once(acme: World, acme_api) -> None:
    with tenant_context(acme.tenant):
        for index in range(5):
            Partner.objects.create(external_id=f"P-{index}", name=f"P {index}", partner_type=acme.partner_type)
    seen, url = [], "/api/v1/partners/?limit=3"
    while url:
        page = acme_api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(Partner.all_tenants.filter(tenant=acme.tenant).values_list("pk", flat=True))
    assert len(seen) == 7


def test_partner_by_external_id_and_by_id(acme: World, acme_api) -> None:
    by_external = acme_api.get(f"/api/v1/partners/{acme.partner.external_id}/").json()
    by_id = acme_api.get(f"/api/v1/partners/by-id/{acme.partner.pk}/").json()
    assert by_external == by_id
    assert by_id["external_id"] == acme.partner.external_id


def test_upsert_creates_then_updates_only_what_is_given(acme: World, acme_api) -> None:
    with tenant_context(acme.tenant):
        PartnerTypeFactory(tenant=acme.tenant, code="distributor")
    body = {"name": "Nordic Net", "partner_type": "distributor", "region": "Nordics", "joined_at": "2024-02-01"}
    created = acme_api.put("/api/v1/partners/CRM-NEW/", body, content_type="application/json")
    assert created.status_code == 201
    assert created.json() | {"id": 0} == {
        "id": 0,
        "external_id": "CRM-NEW",
        "name": "Nordic Net",
        "partner_type": "distributor",
        "region": "Nordics",
        "segment": "",
        "account_manager": None,
        "joined_at": "2024-02-01",
        "status": "active",
    }
    update = {"name": "Nordic Networks", "partner_type": "distributor", "account_manager": "am@acme.test"}
    updated = acme_api.put("/api/v1/partners/CRM-NEW/", update, content_type="application/json")
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert (updated.json()["name"], updated.json()["region"], updated.json()["account_manager"]) == (
        "Nordic Networks",
        "Nordics",
        "am@acme.test",
    )
    cleared = acme_api.put(
        "/api/v1/partners/CRM-NEW/",
        {"name": "Nordic Networks", "partner_type": "distributor", "account_manager": None, "status": "left"},
        content_type="application/json",
    )
    assert (cleared.json()["account_manager"], cleared.json()["status"]) == (None, "left")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"partner_type": "reseller"}, {"name": ["This field is required."]}),
        ({"name": "X", "partner_type": "nope"}, {"partner_type": ["Object with code=nope does not exist."]}),
        (
            {"name": "X", "partner_type": "reseller", "account_manager": "pm@acme.test"},
            {"account_manager": ["No account manager of this program has that email."]},
        ),
        (
            {"name": "X", "partner_type": "reseller", "account_manager": "am@globex.test"},
            {"account_manager": ["No account manager of this program has that email."]},
        ),
        ({"name": "X", "partner_type": "reseller", "status": "gone"}, {"status": ['"gone" is not a valid choice.']}),
    ],
)
def test_upsert_refuses_bad_fields_and_writes_nothing(acme: World, globex: World, acme_api, body, fields) -> None:
    before = snapshot(acme)
    response = acme_api.put("/api/v1/partners/CRM-NEW/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "validation_error",
            "code": "invalid",
            "message": "Some fields are invalid.",
            "fields": fields,
        }
    }
    assert snapshot(acme) == before


def test_upsert_uses_only_this_tenants_partner_types(acme: World, globex: World, acme_api) -> None:
    with tenant_context(globex.tenant):
        PartnerTypeFactory(tenant=globex.tenant, code="globex-only")
    response = acme_api.put(
        "/api/v1/partners/CRM-NEW/", {"name": "X", "partner_type": "globex-only"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert not Partner.all_tenants.filter(external_id="CRM-NEW").exists()


def test_partner_status_reads_tier_score_and_points(acme: World, acme_api, acme_objects: Objects) -> None:
    response = acme_api.get(f"/api/v1/partners/{acme.partner.external_id}/status/")
    assert response.status_code == 200
    body = response.json()
    assert body["partner"]["external_id"] == acme.partner.external_id
    assert (body["tier"], body["score"], body["next_tier"], body["downgrade_on"]) == (None, None, None, None)
    assert body["entitlements"] == []  # no tier yet, nothing granted
    # 1,000 given, 100 redeemed (still waiting for approval: the points are debited at request).
    assert body["points"] == {
        "balance": 900,
        "lifetime_earned": 1000,
        "lifetime_redeemed": 100,
        "expiring_soon": 0,
        "first_expiry": None,
    }


# --- Activities --------------------------------------------------------------------------------------------------


def sale_row(world: World, external_id: str, amount: str = "1000.00", **fields) -> dict:
    return {
        "partner": world.partner.external_id,
        "external_id": external_id,
        "kind": "sale",
        "occurred_at": moment(2),
        "amount": amount,
        "currency": world.tenant.currency,
        **fields,
    }


def test_bulk_activities_answer_per_row_and_keep_the_good_ones(acme: World, acme_api) -> None:
    rows = [
        sale_row(acme, "S-1"),
        sale_row(acme, "S-1"),
        sale_row(acme, "S-2", amount="-5"),
        {**sale_row(acme, "S-3"), "partner": "NOBODY"},
        sale_row(acme, "S-4", amount="20.00", approve=None),
    ]
    rows[4].pop("approve")
    response = acme_api.post("/api/v1/activities/", {"activities": rows}, content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["duplicates"], body["errors"]) == (2, 1, 2)
    assert [(row["index"], row["external_id"], row["status"]) for row in body["results"]] == [
        (0, "S-1", "created"),
        (1, "S-1", "duplicate"),
        (2, "S-2", "error"),
        (3, "S-3", "error"),
        (4, "S-4", "created"),
    ]
    assert body["results"][2]["errors"] == {"amount": ["The amount must be a positive number."]}
    assert list(body["results"][3]["errors"]) == ["partner"]
    with tenant_context(acme.tenant):
        stored = Activity.objects.filter(source="api").order_by("external_id")
        assert [(a.external_id, a.status, a.created_by_id) for a in stored] == [
            ("S-1", "approved", acme.manager.pk),
            ("S-4", "approved", acme.manager.pk),
        ]
        assert body["results"][0]["activity_id"] == stored[0].pk
        assert ledger_verify().breaches == []
    again = acme_api.post("/api/v1/activities/", {"activities": rows[:1]}, content_type="application/json")
    assert again.json()["results"][0] == {
        "index": 0,
        "external_id": "S-1",
        "status": "duplicate",
        "activity_id": body["results"][0]["activity_id"],
        "errors": {},
    }


def test_bulk_activities_can_wait_for_review(acme: World, acme_api) -> None:
    response = acme_api.post(
        "/api/v1/activities/",
        {"activities": [sale_row(acme, "S-9")], "approve": False},
        content_type="application/json",
    )
    assert response.json()["created"] == 1
    with tenant_context(acme.tenant):
        assert Activity.objects.get(external_id="S-9").status == "pending"
        assert not LedgerEntry.objects.filter(activity__external_id="S-9").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"activities": []}, "activities"),
        ({"activities": "nope"}, "activities"),
        ({"activities": [1, 2]}, "activities.0"),
        ({}, "activities"),
    ],
)
def test_bulk_activities_refuse_a_bad_envelope_and_write_nothing(acme: World, acme_api, body, field) -> None:
    before = snapshot(acme)
    response = acme_api.post("/api/v1/activities/", body, content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert snapshot(acme) == before


def test_bulk_activities_take_at_most_1000_rows(acme: World, acme_api) -> None:
    rows = [sale_row(acme, f"S-{index}") for index in range(1001)]
    response = acme_api.post("/api/v1/activities/", {"activities": rows}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"activities": ["Ensure this field has no more than 1000 elements."]}
    assert not Activity.all_tenants.filter(tenant=acme.tenant, source="api").exists()


def test_review_approves_and_says_it_came_through_the_key(acme: World, acme_objects: Objects) -> None:
    sales_rule(acme)
    api_key, token = make_key(acme)
    activity = acme_objects.activity
    response = api_client(acme, token).post(
        f"/api/v1/activities/{activity.pk}/review/", {"decision": "approve"}, content_type="application/json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["activity"]["status"] == "approved"
    with tenant_context(acme.tenant):
        change = activity.status_changes.order_by("pk").last()
        assert (change.to_status, change.actor_id, change.reason) == (
            "approved",
            acme.manager.pk,
            f"Via {api_key.label}",
        )
        entries = list(LedgerEntry.objects.filter(activity=activity).values_list("pk", "kind"))
    assert [(entry["id"], entry["kind"]) for entry in body["entries"]] == entries
    assert entries
    assert {kind for _pk, kind in entries} == {EntryKind.EARN}


def test_review_rejects_with_a_reason_only(acme: World, acme_api, acme_objects: Objects) -> None:
    url = f"/api/v1/activities/{acme_objects.activity.pk}/review/"
    refused = acme_api.post(url, {"decision": "reject"}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"reason": ["Say why the activity is rejected."]}
    acme_objects.activity.refresh_from_db()
    assert acme_objects.activity.status == "pending"
    response = acme_api.post(url, {"decision": "reject", "reason": "No invoice"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["activity"]["status"] == "rejected"
    assert response.json()["entries"] == []


# --- Ledger ------------------------------------------------------------------------------------------------------


def test_adjustment_posts_once_under_the_keys_author_and_names_the_key(acme: World) -> None:
    api_key, token = make_key(acme)
    response = api_client(acme, token).post(
        "/api/v1/ledger/adjustments/",
        {"partner": acme.partner.external_id, "points": 250, "reason": "Goodwill"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="adj-1",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["points"], body["balance_after"], body["actor"], body["partner"]) == (
        "adjust",
        250,
        250,
        "pm@acme.test",
        acme.partner.external_id,
    )
    assert body["memo"] == f"Goodwill (via {api_key.label})"
    with tenant_context(acme.tenant):
        entry = LedgerEntry.objects.get()
        assert entry.idempotency_key == f"api:{api_key.prefix}:adj-1"
        assert ledger_verify().breaches == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            {"partner": "NOBODY", "points": 5, "reason": "x"},
            {"partner": ["Object with external_id=NOBODY does not exist."]},
        ),
        ({"points": 5, "reason": "x"}, {"partner": ["This field is required."]}),
        ({"partner": "P", "points": 0, "reason": "x"}, {"points": ["Points must be a whole number other than zero."]}),
        ({"partner": "P", "points": 5, "reason": ""}, {"reason": ["This field may not be blank."]}),
    ],
)
def test_adjustment_refuses_bad_input_and_writes_nothing(acme: World, acme_api, body, fields) -> None:
    if body.get("partner") == "P":
        body["partner"] = acme.partner.external_id
    before = snapshot(acme)
    response = acme_api.post(
        "/api/v1/ledger/adjustments/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="adj-x"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == fields
    assert snapshot(acme) == before


def test_adjustment_below_zero_balance_is_refused(acme: World, acme_api) -> None:
    before = snapshot(acme)
    response = acme_api.post(
        "/api/v1/ledger/adjustments/",
        {"partner": acme.partner.external_id, "points": -1, "reason": "Clawback"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="adj-neg",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Not enough points: 0 available, 1 needed."
    assert snapshot(acme) == before


def test_adjustment_needs_an_idempotency_key(acme: World, acme_api) -> None:
    before = snapshot(acme)
    response = acme_api.post(
        "/api/v1/ledger/adjustments/",
        {"partner": acme.partner.external_id, "points": 5, "reason": "x"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert snapshot(acme) == before


def test_a_key_without_an_author_cannot_adjust(acme: World) -> None:
    with tenant_context(acme.tenant):
        token = api_key_create(name="CLI", scopes=["ledger:write"], created_by=None).token
    before = snapshot(acme)
    response = api_client(acme, token).post(
        "/api/v1/ledger/adjustments/",
        {"partner": acme.partner.external_id, "points": 5, "reason": "x"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="adj-cli",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "key_has_no_author"
    assert snapshot(acme) == before


def test_ledger_entries_filter_by_partner_kind_and_dates(acme: World, acme_api, acme_objects: Objects) -> None:
    url = f"/api/v1/ledger/entries/?partner={acme.partner.external_id}"
    assert [row["kind"] for row in acme_api.get(url).json()["results"]] == ["redeem", "earn"]
    assert [row["kind"] for row in acme_api.get(url + "&kind=earn").json()["results"]] == ["earn"]
    future = (timezone.now() + timedelta(days=1)).isoformat().replace("+", "%2B")
    assert acme_api.get(url + f"&effective_after={future}").json()["results"] == []
    assert acme_api.get(f"/api/v1/ledger/entries/?partner={acme.unmanaged_partner.external_id}").json()["results"] == []


# --- Rewards and redemptions -------------------------------------------------------------------------------------


def test_rewards_list_filters(acme: World, acme_api) -> None:
    with tenant_context(acme.tenant):
        RewardFactory(sku="CHEAP", points_cost=10, kind="gift_card")
        RewardFactory(sku="DEAR", points_cost=10_000, kind="merchandise")
    assert [row["sku"] for row in acme_api.get("/api/v1/rewards/?points_cost_max=100").json()["results"]] == ["CHEAP"]
    assert [row["sku"] for row in acme_api.get("/api/v1/rewards/?kind=merchandise").json()["results"]] == ["DEAR"]


def test_redeem_through_the_api_then_walk_the_workflow(acme: World, acme_objects: Objects) -> None:
    api_key, token = make_key(acme)
    client = api_client(acme, token)
    response = client.post(
        "/api/v1/redemptions/",
        {"partner": acme.partner.external_id, "reward": acme_objects.reward.sku, "quantity": 2},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="red-1",
    )
    assert response.status_code == 201
    redemption = response.json()
    assert (redemption["status"], redemption["points"], redemption["quantity"]) == ("requested", 200, 2)
    assert redemption["review_reasons"] == ["approval_required"]
    url = f"/api/v1/redemptions/{redemption['id']}"
    refused = client.post(f"{url}/reject/", {}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"reason": ["Say why the redemption is rejected."]}
    approved = client.post(f"{url}/approve/", {"reason": "OK"}, content_type="application/json")
    assert approved.json()["status"] == "approved"
    fulfilled = client.post(f"{url}/fulfil/", {"tracking": "UPS 1Z"}, content_type="application/json")
    assert (fulfilled.json()["status"], fulfilled.json()["tracking"]) == ("fulfilled", "UPS 1Z")
    wrong = client.post(f"{url}/cancel/", {}, content_type="application/json")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["message"] == "Only a redemption still waiting for review can be cancelled."
    with tenant_context(acme.tenant):
        stored = Redemption.objects.get(pk=redemption["id"])
        assert (stored.requested_by_id, stored.idempotency_key) == (acme.manager.pk, f"api:{api_key.prefix}:red-1")
        assert list(stored.events.values_list("to_status", "reason")) == [
            ("requested", ""),
            ("approved", f"OK (via {api_key.label})"),
            ("fulfilled", "UPS 1Z"),
        ]
        assert ledger_verify().breaches == []


def test_reject_and_cancel_refund(acme: World, acme_api, acme_objects: Objects) -> None:
    url = f"/api/v1/redemptions/{acme_objects.redemption.pk}"
    response = acme_api.post(f"{url}/cancel/", {}, content_type="application/json")
    assert response.json()["status"] == "cancelled"
    with tenant_context(acme.tenant):
        assert LedgerEntry.objects.filter(redemption=acme_objects.redemption, kind=EntryKind.REFUND).count() == 1
    status = acme_api.get(f"/api/v1/partners/{acme.partner.external_id}/status/").json()
    assert status["points"]["balance"] == 1000


def test_redeem_refuses_what_the_service_refuses_and_writes_nothing(acme: World, acme_api) -> None:
    with tenant_context(acme.tenant):
        reward = RewardFactory(points_cost=5_000)
    before = snapshot(acme)
    response = acme_api.post(
        "/api/v1/redemptions/",
        {"partner": acme.partner.external_id, "reward": reward.sku},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="red-poor",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Not enough points: 0 available, 5,000 needed."
    assert snapshot(acme) == before


def test_redemptions_filter_by_status(acme: World, acme_api, acme_objects: Objects) -> None:
    assert [row["id"] for row in acme_api.get("/api/v1/redemptions/?status=requested").json()["results"]] == [
        acme_objects.redemption.pk
    ]
    assert acme_api.get("/api/v1/redemptions/?status=fulfilled").json()["results"] == []


# --- Tier models -------------------------------------------------------------------------------------------------


def test_tier_models_with_tiers_and_criteria(acme: World, acme_api, acme_objects: Objects) -> None:
    body = acme_api.get(f"/api/v1/tier-models/{acme_objects.tier_model.pk}/").json()
    with tenant_context(acme.tenant):
        tiers = [(tier.rank, tier.name) for tier in acme_objects.tier_model.tiers.order_by("rank")]
    assert [(tier["rank"], tier["name"]) for tier in body["tiers"]] == tiers
    assert body["pathways"][0]["criteria"][0] | {"id": 0} == {
        "id": 0,
        "label": "Revenue",
        "metric": "revenue",
        "activity_kind": "",
        "code": "",
        "weight": "1.00",
        "target": "100000.00",
        "cap": "1.00",
    }


# --- Portal sessions ---------------------------------------------------------------------------------------------


def test_a_partner_member_reads_their_own_status_ledger_and_redemptions(
    acme: World, client_for, acme_objects: Objects
) -> None:
    client = client_for(acme, acme.partner_user)
    assert client.get(f"/api/v1/partners/{acme.partner.external_id}/status/").status_code == 200
    entries = client.get("/api/v1/ledger/entries/").json()["results"]
    assert {entry["partner"] for entry in entries} == {acme.partner.external_id}
    assert [row["id"] for row in client.get("/api/v1/redemptions/").json()["results"]] == [acme_objects.redemption.pk]
    assert client.get("/api/v1/rewards/").status_code == 200


def test_a_partner_member_sees_nothing_of_another_partner(acme: World, client_for) -> None:
    other = MembershipFactory(tenant=acme.tenant, role="partner_user", partner=acme.unmanaged_partner).user
    with tenant_context(acme.tenant):
        give_points(acme.partner, 10, "mine")
    client = client_for(acme, other)
    assert client.get(f"/api/v1/partners/{acme.partner.external_id}/status/").status_code == 404
    assert client.get("/api/v1/ledger/entries/").json()["results"] == []


def test_portal_sessions_may_not_write_even_with_a_csrf_token(acme: World, client_for) -> None:
    client = client_for(acme, acme.partner_admin)
    before = snapshot(acme)
    response = client.post(
        "/api/v1/redemptions/", {"partner": acme.partner.external_id, "reward": "X"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert snapshot(acme) == before


@pytest.mark.parametrize("role", ["owner", "program_manager", "account_manager"])
def test_staff_sessions_use_keys_not_cookies(acme: World, client_for, role: str) -> None:
    response = client_for(acme, acme.user_for(role)).get("/api/v1/ledger/entries/")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Portal sessions may only read their own partner's data."


def test_outsiders_sessions_are_refused(acme: World, client_for, outsider) -> None:
    client = client_for(acme, outsider)
    assert client.get("/api/v1/rewards/").status_code == 403


def test_amounts_are_strings_in_the_tenants_currency(acme: World, acme_api, acme_objects: Objects) -> None:
    row = acme_api.get(f"/api/v1/activities/{acme_objects.activity.pk}/").json()
    assert (row["amount"], row["currency"]) == (str(Decimal("250.00")), acme.tenant.currency)


# --- Query parameters --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("occurred_after=", "occurred_after"),
        ("kind=", "kind"),
        ("occurred_after=yesterday", "occurred_after"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
    ],
)
def test_bad_query_parameters_are_refused_not_ignored(acme: World, acme_api, query: str, field: str) -> None:
    response = acme_api.get(f"/api/v1/activities/?{query}")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_moments_with_any_iso_offset_are_compared_in_utc(acme: World, acme_api, acme_objects: Objects) -> None:
    # +18:00 is valid ISO 8601 but beyond what PostgreSQL accepts as an offset.
    after = (timezone.now() - timedelta(days=3)).astimezone(timezone.get_fixed_timezone(18 * 60)).isoformat()
    response = acme_api.get("/api/v1/activities/", {"occurred_after": after})
    assert [row["id"] for row in response.json()["results"]] == [acme_objects.activity.pk]
    year_one = acme_api.get("/api/v1/activities/", {"occurred_after": "0001-01-01T00:00:00+05:00"})
    assert year_one.status_code == 400


def test_ids_beyond_the_database_range_are_refused(acme: World, acme_api) -> None:
    response = acme_api.get("/api/v1/ledger/entries/", {"redemption": str(2**63)})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["redemption"]


def test_options_is_405_the_schema_describes_everything(acme: World, acme_api) -> None:
    response = acme_api.options(f"/api/v1/partners/{acme.partner.external_id}/")
    assert response.status_code == 405


@pytest.mark.django_db(transaction=True)
def test_racing_upserts_of_a_new_partner_create_it_once(acme: World) -> None:
    if not is_postgresql():
        pytest.skip("a real race needs PostgreSQL")
    token = make_key(acme)[1]

    def work(index: int):
        body = {"name": f"Racer {index}", "partner_type": "reseller"}
        return api_client(acme, token).put("/api/v1/partners/RACE-1/", body, content_type="application/json")

    results = run_concurrently(acme.tenant, 6, work)
    assert sorted(response.status_code for response in results) == [200, 200, 200, 200, 200, 201]
    assert Partner.all_tenants.filter(tenant=acme.tenant, external_id="RACE-1").count() == 1
