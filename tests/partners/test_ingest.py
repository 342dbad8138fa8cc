"""Bulk ingestion (partners.ingest.activities_ingest): parsing, validation, idempotency, partial success, points."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from loyalty.ledger.models import LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.selectors import ledger_verify
from loyalty.tenancy.context import tenant_context
from partners.ingest import IngestResult, activities_ingest
from partners.models import Activity, ActivityStatusChange, Partner
from tests.conftest import World
from tests.factories import PartnerFactory
from tests.partners.helpers import balance_of, sales_rule


def sale(world: World, external_id: str, **overrides) -> dict:
    """A good CSV-style row (strings) for the world's partner."""
    return {
        "partner": world.partner.external_id,
        "external_id": external_id,
        "kind": "sale",
        "occurred_at": (timezone.now() - timedelta(days=1)).isoformat(),
        "amount": "100.50",
        "currency": "USD",
    } | overrides


def ingest(world: World, rows: list[dict], **options) -> list[IngestResult]:
    options = {"source": "csv", "actor": world.manager} | options
    with tenant_context(world.tenant):
        return activities_ingest(rows=rows, **options)


def statuses(results: list[IngestResult]) -> list[str]:
    return [result.status for result in results]


def activity_count(world: World) -> int:
    with tenant_context(world.tenant):
        return Activity.objects.count()


def test_good_rows_are_recorded_approved_with_history_and_points(acme: World) -> None:
    sales_rule(acme)
    results = ingest(acme, [sale(acme, "S-1"), sale(acme, "S-2", amount="20", quantity="3", code="X")])
    assert statuses(results) == ["created", "created"]
    assert [result.index for result in results] == [0, 1]
    with tenant_context(acme.tenant):
        first = Activity.objects.get(pk=results[0].activity_id)
        assert (first.status, first.source, first.external_id, first.amount) == (
            "approved",
            "csv",
            "S-1",
            Decimal("100.50"),
        )
        assert first.created_by == acme.manager
        second = Activity.objects.get(pk=results[1].activity_id)
        assert (second.quantity, second.code) == (3, "X")
        history = list(ActivityStatusChange.objects.filter(activity=first).values_list("from_status", "to_status"))
        assert history == [("", "approved")]
    assert balance_of(acme) == 100 + 20
    with tenant_context(acme.tenant):
        assert ledger_verify().breaches == []


def test_pending_when_not_approved_and_no_points(acme: World) -> None:
    sales_rule(acme)
    results = ingest(acme, [sale(acme, "S-1")], approve=False)
    with tenant_context(acme.tenant):
        assert Activity.objects.get(pk=results[0].activity_id).status == "pending"
        assert LedgerEntry.objects.count() == 0
        assert PointsAccount.objects.count() == 0


def test_dry_run_reports_and_writes_nothing(acme: World) -> None:
    sales_rule(acme)
    results = ingest(acme, [sale(acme, "S-1"), sale(acme, "S-1"), sale(acme, "S-2", kind="nope")], dry_run=True)
    assert statuses(results) == ["created", "duplicate", "error"]
    assert results[0].activity_id is None
    assert activity_count(acme) == 0
    with tenant_context(acme.tenant):
        assert LedgerEntry.objects.count() == 0
        assert ActivityStatusChange.objects.count() == 0


def test_reingesting_is_idempotent(acme: World) -> None:
    sales_rule(acme)
    first = ingest(acme, [sale(acme, "S-1"), sale(acme, "S-2")])
    again = ingest(acme, [sale(acme, "S-1"), sale(acme, "S-2"), sale(acme, "S-3")])
    assert statuses(again) == ["duplicate", "duplicate", "created"]
    assert [result.activity_id for result in again[:2]] == [result.activity_id for result in first]
    assert activity_count(acme) == 3
    assert balance_of(acme) == 3 * 100


def test_repeat_within_a_batch_first_wins(acme: World) -> None:
    results = ingest(acme, [sale(acme, "S-1", amount="10"), sale(acme, "S-1", amount="99")])
    assert statuses(results) == ["created", "duplicate"]
    assert results[1].activity_id == results[0].activity_id
    with tenant_context(acme.tenant):
        assert list(Activity.objects.values_list("amount", flat=True)) == [Decimal("10.00")]


def test_a_bad_first_row_does_not_hide_a_good_repeat(acme: World) -> None:
    results = ingest(acme, [sale(acme, "S-1", amount="x"), sale(acme, "S-1")])
    assert statuses(results) == ["error", "created"]


def test_same_external_id_from_another_source_is_another_activity(acme: World) -> None:
    ingest(acme, [sale(acme, "S-1")], source="api")
    assert statuses(ingest(acme, [sale(acme, "S-1")], source="csv")) == ["created"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"partner": "NOPE"}, "partner", "Unknown partner 'NOPE'."),
        ({"partner": ""}, "partner", "This field is required."),
        ({"external_id": ""}, "external_id", "This field is required."),
        ({"external_id": "x" * 201}, "external_id", "Ensure this value has at most 200 characters (it has 201)."),
        ({"kind": "bribe"}, "kind", "Unknown activity kind 'bribe'."),
        ({"occurred_at": "yesterday"}, "occurred_at", "Give a date and time in ISO 8601"),
        ({"occurred_at": "2026-01-01T10:00:00"}, "occurred_at", "Give the date and time with a time zone."),
        ({"occurred_at": ""}, "occurred_at", "Give the date and time with a time zone."),
        ({"occurred_at": "2999-01-01T00:00:00+00:00"}, "occurred_at", "The activity cannot be in the future."),
        ({"amount": "12,50"}, "amount", "Give the amount as a number, like 1250.00."),
        ({"amount": "-5"}, "amount", "The amount must be a positive number."),
        ({"amount": "1.234"}, "amount", "Ensure that there are no more than 2 decimal places."),
        ({"amount": "1" * 13}, "amount", "Ensure that there are no more than 12 digits before the decimal point."),
        ({"amount": "NaN"}, "amount", "Give the amount as a number, like 1250.00."),
        ({"amount": "Infinity"}, "amount", "Give the amount as a number, like 1250.00."),
        ({"amount": ""}, "amount", "A sale needs an amount."),
        ({"currency": "EUR"}, "currency", "Amounts are in USD in this program, not 'EUR'."),
        ({"quantity": "2.5"}, "quantity", "The quantity must be a whole number of at least 1."),
        ({"quantity": "0"}, "quantity", "The quantity must be a whole number of at least 1."),
        ({"quantity": "99999999999"}, "quantity", "Ensure this value is less than or equal to 2147483647."),
        ({"valid_until": "31/12/2026"}, "valid_until", "Give a date as YYYY-MM-DD."),
        ({"valid_until": "2000-01-01"}, "valid_until", "A certification cannot lapse before it was earned."),
        ({"code": "c" * 101}, "code", "Ensure this value has at most 100 characters (it has 101)."),
        ({"metadata": "[1]"}, "metadata", "Metadata must be an object."),
        ({"colour": "red"}, "colour", "Unknown field. The fields are: partner, external_id"),
        ({"kind": 7}, "kind", "Unknown activity kind '7'."),
        ({"amount": True}, "amount", "Give the amount as a number, like 1250.00."),
    ],
)
def test_each_error_is_reported_on_its_field_and_nothing_written(
    acme: World, overrides: dict, field: str, message: str
) -> None:
    sales_rule(acme)
    [result] = ingest(acme, [sale(acme, "S-1") | overrides])
    assert result.status == "error"
    assert result.activity_id is None
    assert any(text.startswith(message) for text in result.errors[field]), result.errors
    assert activity_count(acme) == 0
    assert balance_of(acme) == 0


def test_inactive_partner_is_refused(acme: World) -> None:
    with tenant_context(acme.tenant):
        Partner.objects.filter(pk=acme.partner.pk).update(status=Partner.Status.SUSPENDED)
    [result] = ingest(acme, [sale(acme, "S-1")])
    assert result.errors == {"partner": ["The partner is not active."]}


def test_several_errors_on_one_row(acme: World) -> None:
    [result] = ingest(acme, [sale(acme, "S-1", partner="NOPE", amount="abc", kind="x")])
    assert result.errors == {
        "partner": ["Unknown partner 'NOPE'."],
        "amount": ["Give the amount as a number, like 1250.00."],
        "kind": ["Unknown activity kind 'x'."],
    }


def test_a_date_alone_is_midnight_in_the_tenant_time_zone(acme: World) -> None:
    acme.tenant.time_zone = "Europe/Madrid"
    acme.tenant.save(update_fields=["time_zone"])
    [result] = ingest(acme, [sale(acme, "S-1", occurred_at="2026-01-15")])
    with tenant_context(acme.tenant):
        occurred_at = Activity.objects.get(pk=result.activity_id).occurred_at
    assert occurred_at.isoformat() == "2026-01-14T23:00:00+00:00"


def test_typed_values_are_accepted(acme: World) -> None:
    when = timezone.now() - timedelta(hours=2)
    [result] = ingest(
        acme,
        [sale(acme, "S-1", occurred_at=when, amount=Decimal("5"), quantity=2, metadata={"crm": "x"})],
        source="api",
    )
    with tenant_context(acme.tenant):
        activity = Activity.objects.get(pk=result.activity_id)
    assert (activity.occurred_at, activity.amount, activity.quantity, activity.metadata) == (
        when,
        Decimal("5.00"),
        2,
        {"crm": "x"},
    )


def test_partial_success_writes_the_good_rows(acme: World) -> None:
    sales_rule(acme)
    results = ingest(acme, [sale(acme, "S-1"), sale(acme, "S-2", amount="bad"), sale(acme, "S-3")])
    assert statuses(results) == ["created", "error", "created"]
    with tenant_context(acme.tenant):
        assert sorted(Activity.objects.values_list("external_id", flat=True)) == ["S-1", "S-3"]
    assert balance_of(acme) == 200


def test_another_tenants_partner_is_unknown(acme: World, globex: World) -> None:
    [result] = ingest(acme, [sale(acme, "S-1", partner=globex.partner.external_id)])
    assert result.errors["partner"] == [f"Unknown partner {globex.partner.external_id!r}."]
    assert activity_count(acme) == 0
    assert activity_count(globex) == 0


def test_rows_for_many_partners_credit_each_account(acme: World) -> None:
    sales_rule(acme)
    others = [PartnerFactory(tenant=acme.tenant, partner_type=acme.partner_type) for _ in range(3)]
    rows = [sale(acme, f"S-{n}", partner=partner.external_id) for n, partner in enumerate(others * 2)]
    ingest(acme, rows)
    for partner in others:
        assert balance_of(acme, partner) == 200
    with tenant_context(acme.tenant):
        assert PointsLot.objects.count() == 6
    call_command("ledger_verify")
