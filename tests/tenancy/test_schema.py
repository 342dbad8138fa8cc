"""The schema stays distributable by tenant (docs/scaling.md): read from the migrated PostgreSQL catalogue.

Every tenant-owned table carries a non-null `tenant_id`, every index on it leads with `tenant_id` (what tenant
queries filter by first, and what Citus needs of unique constraints), and no global table points at tenant data.
Generated from the models, so a new table is checked without anyone remembering to add it here.
"""

import pytest
from django.apps import apps
from django.db import connection

from loyalty.tenancy.models import TenantOwnedModel

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="reads PostgreSQL's catalogue"),
]

TENANT_TABLES = sorted(m._meta.db_table for m in apps.get_models() if issubclass(m, TenantOwnedModel))
# Django's own tables for many-to-many links between two tenant-owned models carry no tenant_id.
LINK_TABLES = sorted(
    m._meta.db_table
    for m in apps.get_models(include_auto_created=True)
    if m._meta.auto_created and all(issubclass(f.related_model, TenantOwnedModel) for f in m._meta.concrete_fields[1:])
)
GLOBAL_TABLES = sorted(
    m._meta.db_table
    for m in apps.get_models(include_auto_created=True)
    if not issubclass(m, TenantOwnedModel) and m._meta.db_table not in LINK_TABLES
)

# The documented exceptions (docs/scaling.md, "What would change under Citus"); anything else fails.
NOT_TENANT_LED = {
    ("api_idempotencyrecord", "idempotency_created_at"),  # the platform-wide purge by age
    ("ledger_pointslot", "ledger_pointslot_entry_id_key"),  # one lot per earning entry (one-to-one)
    ("partners_claim", "partners_claim_activity_id_key"),  # one claim per activity (one-to-one)
    ("deals_dealregistration", "deals_dealregistration_sale_activity_id_key"),  # one sale per won deal (one-to-one)
    ("ledger_adjustmentrequest", "ledger_adjustmentrequest_entry_id_key"),  # one entry per approval (one-to-one)
}


def test_every_tenant_owned_table_has_a_non_null_tenant_id() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name = 'tenant_id' AND table_name = ANY(%s)",
            [TENANT_TABLES],
        )
        columns = dict(cursor.fetchall())
    assert columns == dict.fromkeys(TENANT_TABLES, "NO")


def test_every_index_of_a_tenant_owned_table_leads_with_tenant_id() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, i.relname, a.attname
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
            WHERE t.relname = ANY(%s) AND NOT x.indisprimary
            """,
            [TENANT_TABLES],
        )
        indexes = cursor.fetchall()
    not_led = {(table, index) for table, index, first_column in indexes if first_column != "tenant_id"}
    assert not_led == NOT_TENANT_LED
    # and every table has one to find its tenant's rows by (the index on tenant_id alone goes when another leads)
    assert {table for table, _index, first_column in indexes if first_column == "tenant_id"} == set(TENANT_TABLES)


def test_tenant_links_without_tenant_id_are_the_documented_ones() -> None:
    """Audience and gating links to partner types and tiers: Citus would need tenant_id on them (docs/scaling.md)."""
    assert LINK_TABLES == [
        "enablement_course_partner_types",
        "enablement_resource_partner_types",
        "engagement_announcement_partner_types",
        "engagement_announcement_tiers",
        "engagement_survey_partner_types",
        "engagement_survey_tiers",
        "ledger_earningrule_partner_types",
        "tiers_pathway_partner_types",
    ]


def test_no_global_table_references_tenant_data() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT src.relname, dst.relname
            FROM pg_constraint c
            JOIN pg_class src ON src.oid = c.conrelid
            JOIN pg_class dst ON dst.oid = c.confrelid
            WHERE c.contype = 'f' AND src.relname = ANY(%s)
            """,
            [GLOBAL_TABLES],
        )
        references = cursor.fetchall()
    assert references, "global tables have foreign keys (users, content types): the query must see them"
    assert [(src, dst) for src, dst in references if dst in TENANT_TABLES] == []
