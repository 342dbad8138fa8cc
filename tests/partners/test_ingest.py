"""Bulk ingestion (imports.ingest.activities_ingest): parsing, validation, idempotency, partial success, points."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from earning.services import activity_approve
from imports.ingest import IngestResult, activities_ingest
from loyalty.ledger.models import LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.selectors import ledger_verify
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityStatusChange, Partner
from partners.services import activity_record
from tests.conftest import World
from tests.factories import PartnerFactory, PartnerTypeFactory
from tests.partners.helpers import balance_of, sales_rule
from tests.support import run_concurrently
from tests.tiers.factories import revenue_program
from tiers.models import PartnerScore, PartnerTier
from tiers.services import tier_model_publish


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
        ({"currency": "EUR"}, "currency", "No exchange rate from EUR to USD for "),
        ({"currency": "XYZ"}, "currency", "Unknown currency 'XYZ'"),
        ({"quantity": "2.5"}, "quantity", "The quantity must be a whole number of at least 1."),
        ({"quantity": "0"}, "quantity", "The quantity must be a whole number of at least 1."),
        pytest.param(
            {"quantity": "99999999999"},
            "quantity",
            "Ensure this value is less than or equal to 2147483647.",
            marks=pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite integers have no such range"),
        ),
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


# --- Same ledger as the per-row path ---------------------------------------------------------------------------


def program(world: World) -> Partner:
    """Rules exercising every pricing path (multiplier, caps, partner types, categories, minimum amount), a second
    partner of another type, and a tier with a 1.5 multiplier for the world's partner; returns the second partner.
    The program runs on New York time, so cap periods are not UTC months."""
    world.tenant.time_zone = "America/New_York"
    world.tenant.save(update_fields=["time_zone"])
    sales_rule(world, name="Base", rate=Decimal("0.5"))
    sales_rule(world, name="Flat capped", basis="per_activity", rate=Decimal(40), cap_points=100, cap_period="month")
    sales_rule(world, name="Switch seats", basis="per_quantity", rate=Decimal(3), product_categories=["switches"])
    sales_rule(world, name="Big deals", basis="per_activity", rate=Decimal(500), minimum_amount=Decimal(5000))
    sales_rule(world, name="No multiplier", basis="per_activity", rate=Decimal(7), applies_tier_multiplier=False)
    training = sales_rule(world, name="Training", activity_kind="training", basis="per_activity", rate=Decimal(25))
    sales_rule(
        world,
        name="Ever capped",
        activity_kind="training",
        basis="per_activity",
        rate=Decimal(9),
        cap_points=20,
        cap_period="ever",
    )
    with tenant_context(world.tenant):
        installer = PartnerTypeFactory(tenant=world.tenant, code="installer", name="Installer")
        training.partner_types.add(installer)
        other = PartnerFactory(tenant=world.tenant, external_id="P-INSTALLER", partner_type=installer)
        gold = revenue_program().tiers["Gold"]
        PartnerTier.objects.create(partner=world.partner, tier=gold, since=timezone.localdate())
    return other


def mixed_rows(world: World, other: Partner, *, now: datetime) -> list[dict]:
    rows = []
    for n in range(24):
        partner = world.partner if n % 3 else other
        months_ago = n % 4
        rows.append(
            {
                "partner": partner.external_id,
                "external_id": f"X-{n:03d}",
                "kind": "training" if n % 5 == 0 else "sale",
                "occurred_at": now - timedelta(days=31 * months_ago, hours=n),
                "amount": Decimal(6000 if n % 7 == 0 else 100 + n * 13) if n % 5 else None,
                "currency": "USD" if n % 5 else "",
                "quantity": 1 + n % 3,
                "product_category": "switches" if n % 2 else "",
                "code": "C-1" if n % 5 == 0 else "",
            }
        )
    # No rule pays for marketing: the partner still gets its (empty) account, as with activity_approve.
    rows.append(rows[1] | {"partner": world.unmanaged_partner.external_id, "external_id": "M-1", "kind": "marketing"})
    rows.insert(5, rows[3] | {"amount": Decimal(1)})  # a repeat in the batch: first wins
    rows.insert(9, rows[0] | {"external_id": "BAD", "kind": "bribe"})  # an error
    return rows


def ledger_of(world: World) -> dict:
    """The world's ledger with database ids replaced by what they stand for, for comparing two tenants."""
    with tenant_context(world.tenant):
        entries = list(
            LedgerEntry.objects.order_by("account__partner__external_id", "pk").values_list(
                "account__partner__external_id",
                "activity__external_id",
                "earning_rule__name",
                "kind",
                "points",
                "balance_after",
                "effective_at",
                "memo",
                "actor__email",
                "idempotency_key",
                "activity_id",
                "earning_rule_id",
            )
        )
        lots = list(
            PointsLot.objects.order_by(
                "account__partner__external_id", "entry__activity__external_id", "points"
            ).values_list(
                "account__partner__external_id",
                "entry__activity__external_id",
                "points",
                "remaining",
                "earned_at",
                "expires_at",
            )
        )
        accounts = list(
            PointsAccount.objects.order_by("partner__external_id").values_list(
                "partner__external_id", "balance", "lifetime_earned", "lifetime_redeemed"
            )
        )
        assert ledger_verify().breaches == []
    names = {world.partner.external_id: "main", world.unmanaged_partner.external_id: "unmanaged"}
    translated = []
    for partner, *fields, key, activity_id, rule_id in entries:
        if fields[2] == "reverse":  # keyed by the reversed entry's id, which differs between tenants
            assert key.startswith("reverse:")
        else:
            assert key == f"earn:activity:{activity_id}:rule:{rule_id}"
        translated.append((names.get(partner, partner), *fields))
    return {
        "entries": translated,
        "lots": [(names.get(partner, partner), *fields) for partner, *fields in lots],
        "accounts": [(names.get(partner, partner), *fields) for partner, *fields in accounts],
    }


def test_ingesting_gives_exactly_the_ledger_of_per_row_record_and_approve(acme: World, globex: World) -> None:
    acme_other, globex_other = program(acme), program(globex)
    now = timezone.now().replace(microsecond=0)  # one instant for both tenants' rows: their ledgers must be equal
    results = ingest(acme, mixed_rows(acme, acme_other, now=now), source="api")
    assert statuses(results).count("created") == 25
    assert statuses(results)[5] == "duplicate"
    assert statuses(results)[9] == "error"

    one_by_one = mixed_rows(globex, globex_other, now=now)
    del one_by_one[9], one_by_one[5]
    with tenant_context(globex.tenant), transaction.atomic():
        partners = {partner.external_id: partner for partner in Partner.objects.all()}
        for row in one_by_one:
            recorded = activity_record(
                **(row | {"partner": partners[row["partner"]], "amount": row["amount"]}),
                source="api",
                created_by=globex.manager,
            )
            activity_approve(activity=recorded.activity, actor=globex.manager)

    acme_ledger, globex_ledger = ledger_of(acme), ledger_of(globex)
    assert len(acme_ledger["entries"]) > 24
    assert {entry[2] for entry in acme_ledger["entries"]} == {
        "Base",
        "Flat capped",
        "Switch seats",
        "Big deals",
        "No multiplier",
        "Training",
        "Ever capped",
    }
    assert [(e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]) for e in acme_ledger["entries"]] == [
        (e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]) for e in globex_ledger["entries"]
    ]
    assert [entry[8] for entry in acme_ledger["entries"]] == ["pm@acme.test"] * len(acme_ledger["entries"])
    assert acme_ledger["lots"] == globex_ledger["lots"]
    assert acme_ledger["accounts"] == globex_ledger["accounts"]
    assert ("unmanaged", 0, 0, 0) in acme_ledger["accounts"]


# --- Query budget ----------------------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite batches large inserts by its parameter limit")
def test_query_count_is_the_same_for_10_and_500_rows(acme: World) -> None:
    other = program(acme)
    counts = []
    for size, prefix in ((10, "A"), (500, "B")):
        partners = [PartnerFactory(tenant=acme.tenant, partner_type=acme.partner_type) for _ in range(3)]
        rows = [
            sale(
                acme,
                f"{prefix}-{n}",
                partner=(partners + [acme.partner, other])[n % 5].external_id,
                quantity=str(n % 4 + 1),
                product_category="switches",
            )
            for n in range(size)
        ]
        rows[1] = rows[0]  # a repeat
        rows[2] = rows[2] | {"amount": "bad"}  # an error
        with tenant_context(acme.tenant), CaptureQueriesContext(connection) as captured:
            activities_ingest(rows=rows, source="csv", actor=acme.manager)
        counts.append(len(captured.captured_queries))
    # The COPY path (PostgreSQL): partners by external id; rates; savepoint; staging table created (then COPY, which
    # the capture does not see); stored ids probed, activities and status changes inserted (one statement); rules +
    # their partner types; accounts found, created, read back; accounts locked; multipliers; cap-period earnings by
    # cell; savepoint (points_credit_many), accounts locked and read, staging table created (COPY), savepoint,
    # entries + lots + account totals (one statement; the unique index checks the keys), release; release twice.
    assert counts == [22, 22]


# --- Concurrency -----------------------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks and concurrent inserts need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_at_once_record_each_external_id_once(acme: World) -> None:
    sales_rule(acme)
    sales_rule(acme, name="Capped", basis="per_activity", rate=Decimal(10), cap_points=300, cap_period="ever")
    batches = [
        [sale(acme, f"S-{n:03d}", amount="10") for n in range(0, 60)],
        [sale(acme, f"S-{n:03d}", amount="10") for n in reversed(range(30, 90))],
    ]

    def work(index: int) -> list[IngestResult]:
        return activities_ingest(rows=batches[index], source="api", actor=acme.manager)

    first, second = run_concurrently(acme.tenant, 2, work)
    assert statuses(first).count("error") == statuses(second).count("error") == 0
    assert statuses(first).count("created") + statuses(second).count("created") == 90
    assert statuses(first).count("duplicate") + statuses(second).count("duplicate") == 30
    with tenant_context(acme.tenant):
        assert Activity.objects.count() == 90
        assert LedgerEntry.objects.filter(earning_rule__name="Sales").count() == 90
        # The cap holds across the two batches: 30 activities' worth of 10 points, never more.
        assert sum(LedgerEntry.objects.filter(earning_rule__name="Capped").values_list("points", flat=True)) == 300
        assert ledger_verify().breaches == []
    assert balance_of(acme) == 900 + 300


def test_each_touched_partner_is_rescored_once_after_commit(acme: World, django_capture_on_commit_callbacks) -> None:
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
    rows = [
        sale(acme, f"S-{n}", partner=partner.external_id)
        for n, partner in enumerate([acme.partner] * 3 + [acme.unmanaged_partner])
    ]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest(acme, rows)
    assert len(callbacks) == 2  # one re-score message for both partners, one rebate pass for the batch
    with tenant_context(acme.tenant):
        scored = PartnerScore.objects.filter(source=PartnerScore.Source.INSTANT).values_list("partner_id", flat=True)
        assert sorted(scored) == sorted([acme.partner.pk, acme.unmanaged_partner.pk])


def test_nothing_is_rescored_when_activities_wait_for_review(acme: World, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest(acme, [sale(acme, "S-1")], approve=False)
    assert callbacks == []
