"""COPY ingestion (PostgreSQL) against the reference path: the same input gives the same results and ledger.

Two tenants run the same program and the same batches: one through the COPY-staged path, the other through the
reference path (`imports.ingest.COPY_INGESTION = False`, what SQLite runs). Activity and entry ids differ between
tenants, so both are compared through what the ids stand for (external ids, rule names, partners).
"""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from earning.services import activity_reject
from imports import ingest as ingest_module
from imports.ingest import IngestResult, activities_ingest, copy_ingestion_applies
from loyalty.tenancy.context import tenant_context
from partners.currency import rate_day, rate_set
from partners.models import Activity, ActivityStatusChange
from tests.conftest import World
from tests.partners.test_ingest import ledger_of, mixed_rows, program
from tests.support import run_concurrently

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")

NUL = "\x00"


def run(world: World, rows: list[dict], *, staged: bool, monkeypatch: pytest.MonkeyPatch, **options) -> list:
    """Ingest `rows` for `world` through the COPY path or the reference path; the results with activity ids
    replaced by the external id of the activity they name."""
    monkeypatch.setattr(ingest_module, "COPY_INGESTION", staged)
    options = {"source": "api", "actor": world.manager} | options
    with tenant_context(world.tenant):
        assert copy_ingestion_applies(source=options["source"]) is staged
        results = activities_ingest(rows=rows, **options)
        names = dict(Activity.objects.values_list("pk", "external_id"))
    return [translated(result, names) for result in results]


def translated(result: IngestResult, names: dict[int, str]) -> tuple:
    named = None if result.activity_id is None else names.get(result.activity_id, "(not stored)")
    return (result.index, result.external_id, result.status, named, result.errors)


def activities_of(world: World) -> list[tuple]:
    with tenant_context(world.tenant):
        activities = list(
            Activity.objects.order_by("source", "external_id").values_list(
                "partner__external_id", "source", "external_id", "status", "kind", "occurred_at", "amount", "currency",
                "amount_converted", "exchange_rate", "quantity", "product_sku", "product_category", "code",
                "valid_until", "metadata", "created_by__email", "evidence",
            )
        )  # fmt: skip
        changes = list(
            ActivityStatusChange.objects.order_by("activity__external_id", "pk").values_list(
                "activity__external_id", "from_status", "to_status", "actor__email", "reason"
            )
        )
    names = {world.partner.external_id: "main", world.unmanaged_partner.external_id: "unmanaged"}
    # Each tenant's people differ by the domain of their email only.
    return [
        (names.get(partner, partner), *fields[:-2], local(fields[-2]), fields[-1]) for partner, *fields in activities
    ] + [(*fields[:3], local(fields[3]), fields[4]) for fields in changes]


def comparable(entries: list[tuple]) -> list[tuple]:
    """Entries without their actor's email (each tenant's own) and, for reversals, their moment (when posted)."""
    return [(*entry[:6], None if entry[3] == "reverse" else entry[6], entry[7]) for entry in entries]


def local(email: str | None) -> str | None:
    return None if email is None else email.split("@")[0]


def bad_rows(world: World, *, now: datetime) -> list[dict]:
    """Rows each refused on a field, as the reference path words it (the staged path must say the same)."""
    good = {"partner": world.partner.external_id, "kind": "sale", "occurred_at": now, "amount": "10", "currency": "USD"}
    return [
        good | {"external_id": "E-NUL", "code": f"C{NUL}1"},
        good | {"external_id": "E-DATE", "occurred_at": "0900-01-01T00:00:00+00:00"},
        good | {"external_id": "E-LONG", "product_sku": "x" * 101},
        good | {"external_id": "E-PARTNER", "partner": "NOBODY"},
        good | {"external_id": "E-AMOUNT", "amount": "-5"},
        good | {"external_id": "E-QUANTITY", "quantity": "0"},
        good | {"external_id": "E-RATE", "currency": "JPY"},
        good | {"external_id": "x" * 201},
        good | {"external_id": "E-FIELD", "colour": "red"},
        good | {"external_id": f"E{NUL}ID"},
    ]


def euro_rows(world: World, *, now: datetime) -> list[dict]:
    moment = now - timedelta(days=1)
    with tenant_context(world.tenant):
        rate_set(currency="EUR", day=rate_day(moment), rate=Decimal("1.0837"), actor=world.manager)
    return [
        {
            "partner": world.partner.external_id,
            "external_id": f"EUR-{n}",
            "kind": "sale",
            "occurred_at": moment.isoformat(),
            "amount": f"{1234 + n}.56",
            "currency": "EUR",
            "quantity": str(n + 1),
            "product_category": "switches",
            "member": "",
        }
        for n in range(3)
    ]


def test_copy_path_gives_the_reference_paths_results_activities_and_ledger(
    acme: World, globex: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    others = {acme.tenant.pk: program(acme), globex.tenant.pk: program(globex)}
    now = timezone.now().replace(microsecond=0)  # one instant for both tenants' rows
    outcomes = {}
    for world, staged in ((acme, True), (globex, False)):
        other = others[world.tenant.pk]
        first = mixed_rows(world, other, now=now) + bad_rows(world, now=now) + euro_rows(world, now=now)
        first.insert(0, first[3] | {"amount": "bad"})  # a bad first row does not hide its good repeat
        dry_run = run(world, first, staged=staged, monkeypatch=monkeypatch, dry_run=True)
        imported = run(world, first, staged=staged, monkeypatch=monkeypatch)
        # Everything the import refused, the dry run refused too, in the same words (and the other way round).
        assert [(r[0], r[1], r[2], r[4]) for r in dry_run] == [(r[0], r[1], r[2], r[4]) for r in imported]
        with tenant_context(world.tenant):
            # An activity voided between batches: its reversals count in its cap period for the next batch.
            voided = Activity.objects.get(external_id="X-004")
            activity_reject(activity=voided, actor=world.manager, reason="Duplicate invoice")
        second = [
            first[2],  # already stored: a duplicate across batches
            first[4] | {"amount": "bad"},  # stored, so a duplicate whatever else the row says
            *({**first[2], "external_id": f"CAP-{n}", "amount": "50"} for n in range(6)),  # past the monthly cap
            {**first[2], "external_id": "CAP-0"},  # a repeat inside the batch
            bad_rows(world, now=now)[4],  # refused again: errors are never stored
        ]
        outcomes[world.tenant.pk] = (dry_run, imported, run(world, second, staged=staged, monkeypatch=monkeypatch))

    acme_dry, acme_first, acme_second = outcomes[acme.tenant.pk]
    globex_dry, globex_first, globex_second = outcomes[globex.tenant.pk]
    assert acme_dry == globex_dry
    assert acme_first == globex_first
    assert acme_second == globex_second
    statuses = [result[2] for result in acme_first]
    assert statuses.count("error") == 12  # 10 bad rows, the kind "bribe", the bad first row
    assert (statuses[0], statuses[4]) == ("error", "created")  # the bad first row and its good repeat
    assert [result[2] for result in acme_second] == ["duplicate", "duplicate"] + ["created"] * 6 + [
        "duplicate",
        "error",
    ]
    assert acme_second[8][3] == "CAP-0"  # the repeat names the batch's first row's activity
    assert {field for result in acme_first for field in result[4]} >= {
        "code", "occurred_at", "product_sku", "partner", "amount", "quantity", "currency", "external_id", "colour",
        "kind",
    }  # fmt: skip
    assert activities_of(acme) == activities_of(globex)
    acme_ledger, globex_ledger = ledger_of(acme), ledger_of(globex)  # each also checks ledger_verify is clean
    assert comparable(acme_ledger["entries"]) == comparable(globex_ledger["entries"])
    assert {entry[3] for entry in acme_ledger["entries"]} == {"earn", "reverse"}
    assert {entry[2] for entry in acme_ledger["entries"]} >= {"Flat capped", "Ever capped", "Big deals"}
    assert acme_ledger["lots"] == globex_ledger["lots"]
    assert acme_ledger["accounts"] == globex_ledger["accounts"]


def test_pending_batches_take_the_copy_path_and_post_nothing(
    acme: World, globex: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now().replace(microsecond=0)
    results = {}
    for world, staged in ((acme, True), (globex, False)):
        program(world)
        rows = mixed_rows(world, world.partner, now=now)
        results[staged] = run(world, rows, staged=staged, monkeypatch=monkeypatch, approve=False, source="csv")
    assert results[True] == results[False]
    assert activities_of(acme) == activities_of(globex)
    assert ledger_of(acme)["entries"] == []


def test_sources_without_external_ids_keep_the_reference_path(acme: World) -> None:
    with tenant_context(acme.tenant):
        assert copy_ingestion_applies(source=Activity.Source.API)
        assert copy_ingestion_applies(source=Activity.Source.CSV)
        assert not copy_ingestion_applies(source=Activity.Source.ADMIN)
        assert not copy_ingestion_applies(source=Activity.Source.COURSE)


@pytest.mark.django_db(transaction=True)
def test_overlapping_copy_batches_at_once_record_each_id_once_and_hold_the_cap(acme: World) -> None:
    """Two COPY batches on overlapping external ids at once: each id is recorded once (the loser's rows are
    duplicates naming the winner's activity, never errors), and the monthly cap holds across both."""
    program(acme)
    now = timezone.now().replace(microsecond=0)
    row = {
        "partner": acme.partner.external_id,
        "kind": "sale",
        "occurred_at": now.isoformat(),
        "amount": "100",
        "currency": "USD",
    }
    batches = [
        [row | {"external_id": f"R-{n:03d}"} for n in range(0, 40)],
        [row | {"external_id": f"R-{n:03d}"} for n in reversed(range(20, 60))],
    ]

    def work(index: int) -> list[IngestResult]:
        return activities_ingest(rows=batches[index], source="api", actor=acme.manager)

    first, second = run_concurrently(acme.tenant, 2, work)
    created = [result for result in first + second if result.status == "created"]
    duplicates = [result for result in first + second if result.status == "duplicate"]
    assert (len(created), len(duplicates)) == (60, 20)
    ids = {result.external_id: result.activity_id for result in created}
    assert all(ids[result.external_id] == result.activity_id for result in duplicates)
    with tenant_context(acme.tenant):
        assert Activity.objects.count() == 60
    ledger = ledger_of(acme)  # also: ledger_verify finds nothing
    assert sum(entry[4] for entry in ledger["entries"] if entry[2] == "Flat capped") == 100  # the monthly cap
    # 100 × 0.5 × Gold's 1.25, rounded down, for each activity once.
    assert sum(entry[4] for entry in ledger["entries"] if entry[2] == "Base") == 60 * 62
