"""Activities: validated at the edge, idempotent by (source, external_id), approved into points, reversed on reject."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from earning.services import activity_approve, activity_reject
from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ActivityStatusChange, Partner
from partners.services import activity_record
from tests.conftest import World
from tests.partners.helpers import balance_of, pdf, sales_rule


def record(world: World, **overrides) -> Activity:
    fields = {
        "partner": world.partner,
        "kind": "sale",
        "occurred_at": timezone.now() - timedelta(days=1),
        "source": Activity.Source.API,
        "amount": Decimal("1500.75"),
        "currency": "USD",
        "external_id": "INV-1",
    } | overrides
    with tenant_context(world.tenant):
        return activity_record(**fields).activity


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount": Decimal("-5")}, "amount", "The amount must be a positive number."),
        ({"amount": Decimal("0")}, "amount", "The amount must be a positive number."),
        ({"amount": Decimal("NaN")}, "amount", "The amount must be a positive number."),
        ({"kind": "bribe"}, "kind", "Unknown activity kind 'bribe'."),
        ({"currency": "XYZ"}, "currency", "Unknown currency 'XYZ': give a three-letter ISO 4217 code, like USD."),
        ({"occurred_at": timezone.now() + timedelta(days=3)}, "occurred_at", "The activity cannot be in the future."),
        (
            {"occurred_at": timezone.now().replace(tzinfo=None)},
            "occurred_at",
            "Give the date and time with a time zone.",
        ),
        ({"quantity": 0}, "quantity", "The quantity must be a whole number of at least 1."),
        ({"amount": None, "currency": ""}, "amount", "A sale needs an amount."),
        (
            {"kind": "certification", "amount": None, "valid_until": date(2000, 1, 1)},
            "valid_until",
            "A certification cannot lapse before it was earned.",
        ),
    ],
)
def test_bad_activity_is_refused_with_a_clear_error_and_nothing_written(
    acme: World, overrides: dict, field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        record(acme, **overrides)
    assert error.value.message_dict[field] == [message]
    assert not Activity.all_tenants.exists()
    assert not ActivityStatusChange.all_tenants.exists()


def test_activity_for_a_suspended_partner_is_refused(acme: World) -> None:
    Partner.all_tenants.filter(pk=acme.partner.pk).update(status=Partner.Status.SUSPENDED)
    acme.partner.refresh_from_db()
    with pytest.raises(ValidationError) as error:
        record(acme)
    assert error.value.message_dict == {"partner": ["The partner is not active."]}


def test_recording_is_idempotent_by_source_and_external_id(acme: World) -> None:
    first = record(acme)
    again = record(acme, amount=Decimal("99"))
    assert again.pk == first.pk
    assert again.amount == Decimal("1500.75")
    other_source = record(acme, source=Activity.Source.CSV)
    assert other_source.pk != first.pk
    assert Activity.all_tenants.count() == 2


def test_same_external_id_in_another_tenant_is_another_activity(acme: World, globex: World) -> None:
    globex.tenant.currency = "USD"
    globex.tenant.save(update_fields=["currency"])
    assert record(acme).pk != record(globex).pk


def test_approval_posts_points_once_and_records_who_and_why(acme: World) -> None:
    sales_rule(acme)
    activity = record(acme)
    with tenant_context(acme.tenant):
        entries = activity_approve(activity=activity, actor=acme.manager, reason="Invoice checked")
        again = activity_approve(activity=activity, actor=acme.manager)
        changes = list(
            ActivityStatusChange.objects.filter(activity=activity).values_list(
                "from_status", "to_status", "actor", "reason"
            )
        )
    assert [(entry.kind, entry.points, entry.activity_id) for entry in entries] == [(EntryKind.EARN, 1500, activity.pk)]
    assert [entry.pk for entry in again] == [entries[0].pk]
    assert balance_of(acme) == 1500
    assert changes == [("", "pending", None, "Recorded"), ("pending", "approved", acme.manager.pk, "Invoice checked")]


def test_rejecting_an_approved_activity_reverses_its_points(acme: World) -> None:
    sales_rule(acme)
    activity = record(acme)
    with tenant_context(acme.tenant):
        activity_approve(activity=activity, actor=acme.manager)
        reversals = activity_reject(activity=activity, actor=acme.manager, reason="Invoice cancelled")
        assert activity_reject(activity=activity, actor=acme.manager, reason="Again") == []
        account = PointsAccount.objects.get(partner=acme.partner)
    assert [(entry.kind, entry.points, entry.memo) for entry in reversals] == [
        (EntryKind.REVERSE, -1500, "Invoice cancelled")
    ]
    assert (account.balance, account.lifetime_earned) == (0, 0)
    activity.refresh_from_db()
    assert activity.status == Activity.Status.REJECTED


def test_rejected_activity_cannot_be_approved(acme: World) -> None:
    sales_rule(acme)
    activity = record(acme)
    with tenant_context(acme.tenant):
        activity_reject(activity=activity, actor=acme.manager, reason="Not ours")
        with pytest.raises(ValidationError, match="A rejected activity cannot be approved."):
            activity_approve(activity=activity, actor=acme.manager)
    assert not LedgerEntry.all_tenants.exists()


def test_rejection_needs_a_reason(acme: World) -> None:
    activity = record(acme)
    with tenant_context(acme.tenant), pytest.raises(ValidationError):
        activity_reject(activity=activity, actor=acme.manager, reason="  ")
    activity.refresh_from_db()
    assert activity.status == Activity.Status.PENDING


def test_oversize_or_fake_evidence_is_refused(acme: World, settings) -> None:
    settings.EVIDENCE_MAX_BYTES = 100
    with pytest.raises(ValidationError, match="limited to"):
        record(acme, evidence=pdf(content=b"%PDF-" + b"x" * 200))
    with pytest.raises(ValidationError, match="PDF, PNG or JPEG"):
        record(acme, evidence=pdf(name="invoice.pdf", content=b"MZ\x90\x00 not a pdf"))
    with pytest.raises(ValidationError, match="PDF, PNG or JPEG"):
        record(acme, evidence=pdf(name="invoice.exe"))
    assert not Activity.all_tenants.exists()


def test_evidence_is_stored_under_a_random_name_in_the_tenant_folder(acme: World) -> None:
    activity = record(acme, evidence=pdf(name="../../etc/passwd.pdf"))
    assert activity.evidence.name.startswith(f"evidence/{acme.tenant.pk}/")
    assert "passwd" not in activity.evidence.name
    assert activity.metadata["evidence_name"] == "passwd.pdf"  # Django strips the path from upload names
