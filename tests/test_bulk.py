"""loyalty.bulk on PostgreSQL: `AnyOf` against the IN lookup it replaces, and the session's COPY staging tables."""

import pytest
from django.db import connection, transaction

from loyalty.bulk import AnyOf, stage_rows, staging_table
from loyalty.tenancy.context import tenant_context
from partners.models import Partner
from tests.conftest import World
from tests.factories import PartnerFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="ANY(array) and COPY are PostgreSQL's")

COLUMNS = (("n", "integer"), ("label", "text"))


def test_any_of_selects_what_the_in_lookup_selects(acme: World) -> None:
    with tenant_context(acme.tenant):
        partners = [PartnerFactory(external_id=f"ANY-{n}") for n in range(3)]
        wanted = ["ANY-0", "ANY-2", "NOT-THERE"]
        by_text = set(Partner.objects.filter(AnyOf("external_id", wanted)).values_list("pk", flat=True))
        assert by_text == set(Partner.objects.filter(external_id__in=wanted).values_list("pk", flat=True))
        assert by_text == {partners[0].pk, partners[2].pk}
        by_id = Partner.objects.filter(AnyOf("pk", [partners[1].pk])).values_list("external_id", flat=True)
        assert list(by_id) == ["ANY-1"]
        assert not Partner.objects.filter(AnyOf("external_id", [])).exists()


def test_any_of_compares_text_longer_than_the_column_whole(acme: World) -> None:
    """A value longer than the column must not be cut to its length (a `varchar(n)` cast would) and match."""
    with tenant_context(acme.tenant):
        length = Partner._meta.get_field("external_id").max_length
        stored = PartnerFactory(external_id="L" * length)
        assert not Partner.objects.filter(AnyOf("external_id", ["L" * (length + 5)])).exists()
        assert list(Partner.objects.filter(AnyOf("external_id", ["L" * length])).values_list("pk", flat=True)) == [
            stored.pk
        ]


def test_any_of_keeps_tenant_isolation(acme: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        PartnerFactory(external_id="SHARED-ID")
    with tenant_context(acme.tenant):
        assert not Partner.objects.filter(AnyOf("external_id", ["SHARED-ID"])).exists()


def staged(table: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT n, label FROM pg_temp.{table} ORDER BY n")  # noqa: S608 - a test's own table
        return cursor.fetchall()


def test_a_second_staging_in_one_transaction_replaces_the_rows(db: None) -> None:
    with transaction.atomic():
        table, count = stage_rows(name="test_stage", columns=COLUMNS, rows=[(1, "a\tb"), (2, None)])
        assert (count, staged(table)) == (2, [(1, "a\tb"), (2, None)])
        again, count = stage_rows(name="test_stage", columns=COLUMNS, rows=[(3, "back\\slash\nline")])
        assert again == table
        assert (count, staged(table)) == (1, [(3, "back\\slash\nline")])


@pytest.mark.django_db(transaction=True)
def test_the_staging_table_outlives_its_transaction_empty() -> None:
    """Kept for the session (no catalog churn per batch), emptied at commit, and named by its columns."""
    with transaction.atomic():
        table, _count = stage_rows(name="test_stage", columns=COLUMNS, rows=[(1, "kept?")])
    with transaction.atomic():
        assert staged(table) == []  # the table is still there, its rows are not
        assert stage_rows(name="test_stage", columns=COLUMNS, rows=[(2, "next")]) == (table, 1)
        assert staged(table) == [(2, "next")]
    assert staging_table("test_stage", COLUMNS) == table
    assert staging_table("test_stage", (*COLUMNS, ("extra", "text"))) != table
