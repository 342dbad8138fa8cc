"""Bad input through every door (API, CSV, forms) is a field error, never a 500 (issue 17, items 26-30)."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.sites import AdminSite
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.test import Client
from django.utils import timezone
from rest_framework import serializers as rest_serializers

from api.serializers import ModelSerializer
from imports.ingest import activities_ingest
from loyalty.inputs import JSON_MAX_DEPTH, JSONFormField, ascii_whole_number, json_problems
from loyalty.tenancy.admin_sites import tenant_admin_site
from loyalty.tenancy.context import tenant_context
from partners.models import Activity, ImportJob
from tests.api.conftest import api_client, make_key
from tests.conftest import World

NUL_MESSAGE = "Null characters are not allowed."
LIST_ENDPOINTS = [
    "/api/v1/partners/",
    "/api/v1/activities/",
    "/api/v1/ledger/entries/",
    "/api/v1/rewards/",
    "/api/v1/redemptions/",
    "/api/v1/tier-models/",
]


@pytest.fixture
def api(acme: World) -> Client:
    return api_client(acme, make_key(acme)[1])


def day(days_ago: int = 2) -> str:
    return (timezone.now() - timedelta(days=days_ago)).date().isoformat()


def sale(world: World, external_id: str, **fields: object) -> dict:
    return {
        "partner": world.partner.external_id,
        "external_id": external_id,
        "kind": "sale",
        "occurred_at": day(),
        "amount": "10",
        "currency": world.tenant.currency,
        **fields,
    }


def api_activities(world: World) -> int:
    return Activity.all_tenants.filter(tenant=world.tenant, source="api").count()


# --- Item 29: ?limit= in other scripts' digits ----------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", LIST_ENDPOINTS)
@pytest.mark.parametrize("limit", ["¹", "٣", "３", "1²", "-1", " 3", ""])
def test_limit_in_non_ascii_digits_is_a_400_on_every_list(acme: World, api: Client, endpoint: str, limit: str) -> None:
    """Issue 17, item 29: `?limit=¹` was a 500 on every list (isdigit() yes, int() no) and `?limit=٣` read as 3."""
    response = api.get(endpoint, {"limit": limit})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"limit": ["Give a whole number from 1 to 200."]}


def test_limit_in_ascii_digits_still_pages(acme: World, api: Client) -> None:
    """Issue 17, item 29: the refusal is of other scripts, not of numbers."""
    response = api.get("/api/v1/partners/", {"limit": "1"})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_integer_filters_refuse_non_ascii_digits(acme: World, api: Client) -> None:
    """Issue 17, item 29: the same rule for every integer query parameter (`points_cost_max=٣` is not 3)."""
    response = api.get("/api/v1/rewards/", {"points_cost_max": "٣"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["points_cost_max"]
    assert api.get("/api/v1/rewards/", {"points_cost_max": "3"}).status_code == 200


def test_ascii_whole_number_reads_only_0_to_9() -> None:
    """Issue 17, item 29: the shared reader."""
    assert [ascii_whole_number(text) for text in ["42", "007", "¹", "٣", "４２", "", "4 2", "-1"]] == [
        42,
        7,
        None,
        None,
        None,
        None,
        None,
        None,
    ]


# --- Item 30: every /api/ 404 in the API's shape ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/activities/%0A/", "/api/v1/%0A", "/api/v2/partners/", "/api/", "/api/v1/partners/by-id/%0A1/"],
)
def test_every_api_404_is_json_in_the_error_shape(acme: World, api: Client, path: str) -> None:
    """Issue 17, item 30: an encoded newline (which no URL pattern's `.` matches) got Django's HTML 404."""
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["type"] == "not_found"


def test_an_api_path_on_an_unknown_host_is_a_json_404(db: None) -> None:
    """Issue 17, item 30: the unknown-host page is HTML for browsers, JSON under /api/."""
    response = Client(HTTP_HOST="nobody.localhost").get("/api/v1/partners/")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_other_404s_stay_html_pages(acme: World, client_for) -> None:
    """Issue 17, item 30: only /api/ paths change shape."""
    response = client_for(acme, acme.partner_admin).get("/no-such-page/%0A/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- Item 27: JSON depth ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [JSON_MAX_DEPTH + 1, 1_000, 5_000, 100_000])
def test_deeply_nested_json_bodies_are_a_400(acme: World, api: Client, depth: int) -> None:
    """Issue 17, item 27: 1,000 levels in an adjustment body were a 500 RecursionError."""
    body = "[" * depth + "]" * depth
    response = api.post("/api/v1/ledger/adjustments/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="d")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "validation_error"


@pytest.mark.parametrize("depth", [JSON_MAX_DEPTH, 5_000])
def test_deeply_nested_metadata_is_a_400_naming_the_field(acme: World, api: Client, depth: int) -> None:
    """Issue 17, item 27: 5,000 levels in `metadata` were a 500; nothing is written."""
    nested = '{"a":' * depth + "1" + "}" * depth
    row = json.dumps(sale(acme, "D-1", metadata="METADATA")).replace('"METADATA"', nested)
    body = '{"activities": [' + row + "]}"
    response = api.post("/api/v1/activities/", body, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    if depth < 900:  # the path is known when Python's parser reaches the end; beyond its recursion limit it is not
        assert list(error["fields"]) == ["activities.0.metadata" + ".a" * (JSON_MAX_DEPTH - 3)]
    else:
        assert error["message"] == "The JSON is nested more than 20 levels deep."
    assert api_activities(acme) == 0


def test_json_problems_measure_depth_without_recursing() -> None:
    """Issue 17, item 27: the walk has its own stack (a deep value built in Python, never parsed)."""
    value: object = 1
    for _level in range(200_000):
        value = [value]
    assert json_problems(value) == {"0" + ".0" * (JSON_MAX_DEPTH - 1): ["This is nested more than 20 levels deep."]}
    assert json_problems({"a": [{"b": 1}]}) == {}


# --- Item 26: NUL characters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["external_id", "partner", "product_sku", "code", "currency", "kind"])
def test_a_nul_in_a_bulk_activity_is_a_field_error(acme: World, api: Client, name: str) -> None:
    """Issue 17, item 26: a NUL in any string of a bulk activity was a 500 (duplicate marking, ingest.py)."""
    row = {**sale(acme, "N-1"), name: "A\x00B"}
    response = api.post("/api/v1/activities/", {"activities": [row]}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {f"activities.0.{name}": [NUL_MESSAGE]}
    assert api_activities(acme) == 0


@pytest.mark.parametrize(
    ("metadata", "field"),
    [({"note": "a\x00b"}, "activities.0.metadata.note"), ({"a\x00": 1}, "activities.0.metadata")],
)
def test_a_nul_in_metadata_is_a_field_error(acme: World, api: Client, metadata: dict, field: str) -> None:
    """Issue 17, item 26: NUL in a metadata value or key (jsonb cannot store it)."""
    row = sale(acme, "N-2", metadata=metadata)
    response = api.post("/api/v1/activities/", {"activities": [row]}, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [NUL_MESSAGE]}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/partners/?external_id=a%00b",
        "/api/v1/activities/?partner=a%00b",
        "/api/v1/ledger/entries/?partner=%00",
        "/api/v1/rewards/?sku=%00",
        "/api/v1/redemptions/?reward=%00",
        "/api/v1/partners/?ordering=%00",
        "/api/v1/partners/?cursor=%00",
        "/api/v1/partners/a%00b/",
        "/api/v1/partners/a%00b/status/",
    ],
)
def test_a_nul_in_the_path_or_a_query_parameter_is_a_400(acme: World, api: Client, path: str) -> None:
    """Issue 17, item 26: the path and query parameters of every endpoint, checked once in ApiView."""
    response = api.get(path)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "validation_error"


def test_a_nul_in_an_upsert_or_adjustment_is_a_field_error(acme: World, api: Client) -> None:
    """Issue 17, item 26: every body, whatever its serializer."""
    response = api.put(
        f"/api/v1/partners/{acme.partner.external_id}/",
        {"name": "Acme\x00", "partner_type": "reseller"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": [NUL_MESSAGE]}
    response = api.post(
        "/api/v1/ledger/adjustments/",
        {"partner": acme.partner.external_id, "points": 5, "reason": "x\x00"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="nul-1",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"reason": [NUL_MESSAGE]}


def test_ingest_refuses_nul_as_a_row_error_for_any_caller(acme: World) -> None:
    """Issue 17, item 26: the service itself (CSV rows and any future caller), with its duplicate marking."""
    with tenant_context(acme.tenant):
        results = activities_ingest(
            rows=[sale(acme, "X\x00"), sale(acme, "OK-1", metadata={"k": ["\x00"]}), sale(acme, "OK-2")],
            source="api",
            actor=acme.manager,
            dry_run=False,
        )
    assert [(result.status, result.errors) for result in results] == [
        ("error", {"external_id": [NUL_MESSAGE]}),
        ("error", {"metadata": [NUL_MESSAGE]}),
        ("created", {}),
    ]


def test_a_nul_in_a_csv_file_is_a_field_error_of_the_upload(acme: World, client_for) -> None:
    """Issue 17, item 26: CSV files with a NUL are refused at upload (loyalty/uploads.py), before any dry run."""
    content = (
        "partner,external_id,kind,occurred_at,amount,currency\r\n"
        f"{acme.partner.external_id},C-1,sale,{day()},10,USD\r\n"
        f"{acme.partner.external_id},C-\x002,sale,{day()},10,USD\r\n"
    ).encode()
    response = client_for(acme, acme.manager).post(
        "/admin/partners/importjob/add/",
        {"file": SimpleUploadedFile("a.csv", content, content_type="text/csv"), "approve": "on"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["The file is not text: it contains NUL bytes."]}
    assert not ImportJob.all_tenants.exists()


def test_every_json_field_of_the_tenant_admin_refuses_nul(acme: World) -> None:
    """Issue 17, item 26: forms; CharFields refuse NUL already (Django), JSON fields by the admins' default."""
    json_fields = []
    for model, model_admin in tenant_admin_site._registry.items():
        admins = [model_admin, *(inline(model, AdminSite()) for inline in model_admin.inlines)]
        for each in admins:
            for field in each.model._meta.get_fields():
                if isinstance(field, models.JSONField):
                    form_field = each.formfield_for_dbfield(field, request=None)
                    json_fields.append(f"{each.model.__name__}.{field.name}")
                    assert isinstance(form_field, JSONFormField), json_fields[-1]
                    with pytest.raises(ValidationError) as refused:
                        form_field.clean('{"a": ["\\u0000"]}')
                    assert refused.value.messages == [NUL_MESSAGE]
    assert json_fields, "no JSON field in the tenant admin to check"


# --- Item 28: dates out of range, older than the program allows, RFC 3339 out ----------------------------------------

RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
RANGE_MESSAGE = "Give a date from 1900-01-01 to 2199-12-31."


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"occurred_at": "0001-01-01T00:00:00Z"}, "occurred_at", RANGE_MESSAGE),
        ({"occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at", RANGE_MESSAGE),
        ({"occurred_at": "0001-01-01"}, "occurred_at", RANGE_MESSAGE),
        ({"occurred_at": "9999-12-31T23:59:59-12:00"}, "occurred_at", "The activity cannot be in the future."),
        ({"occurred_at": "1999-06-01"}, "occurred_at", None),
        ({"kind": "certification", "amount": None, "code": "C", "valid_until": "9999-12-31"}, "valid_until", None),
    ],
)
def test_dates_out_of_range_or_too_old_are_row_errors_in_the_api(
    acme: World, api: Client, fields: dict, field: str, message: str | None
) -> None:
    """Issue 17, item 28: year 0001 with approval was a 500 OverflowError (expiry); 1999 was accepted."""
    row = {**sale(acme, "Y-1"), **fields}
    response = api.post("/api/v1/activities/", {"activities": [row], "approve": True}, content_type="application/json")
    assert response.status_code in (200, 400)
    body = response.json()
    if response.status_code == 400:  # the request shape refused it (the serializer's date range)
        assert body["error"]["fields"] == {f"activities.0.{field}": [RANGE_MESSAGE]}
    else:
        errors = body["results"][0]["errors"]
        assert list(errors) == [field]
        if message:
            assert errors[field] == [message]
    assert api_activities(acme) == 0


def test_the_oldest_accepted_date_is_the_programs_setting(acme: World, api: Client) -> None:
    """Issue 17, items 28 and 8: `activity_max_age_days` (default 730) bounds every channel's dates."""
    acme.tenant.activity_max_age_days = 30
    acme.tenant.save(update_fields=["activity_max_age_days"])
    rows = [sale(acme, "OLD", occurred_at=day(31)), sale(acme, "NEW", occurred_at=day(29))]
    response = api.post("/api/v1/activities/", {"activities": rows}, content_type="application/json")
    results = response.json()["results"]
    assert [result["status"] for result in results] == ["error", "created"]
    with tenant_context(acme.tenant):
        oldest = (timezone.localdate() - timedelta(days=30)).isoformat()
    assert results[0]["errors"] == {
        "occurred_at": [f"The program accepts activities from the last 30 days (since {oldest}), not older ones."]
    }


def test_a_csv_dry_run_refuses_what_the_import_would_refuse(acme: World, client_for) -> None:
    """Issue 17, item 28: a year-0001 row passed the dry run, then made every import attempt a 500."""
    content = (
        "partner,external_id,kind,occurred_at,amount,currency\r\n"
        f"{acme.partner.external_id},Y-1,sale,{day()},10,USD\r\n"
        f"{acme.partner.external_id},Y-2,sale,0001-01-01T00:00:00Z,10,USD\r\n"
        f"{acme.partner.external_id},Y-3,sale,0001-01-01,10,USD\r\n"
        f"{acme.partner.external_id},Y-4,sale,1999-01-01,10,USD\r\n"
        f"{acme.partner.external_id},Y-5,sale,9999-12-31T00:00:00+00:00,10,USD\r\n"
    ).encode()
    client = client_for(acme, acme.manager)
    response = client.post(
        "/admin/partners/importjob/add/",
        {"file": SimpleUploadedFile("a.csv", content, content_type="text/csv"), "approve": "on"},
    )
    assert response.status_code == 302
    with tenant_context(acme.tenant):
        job = ImportJob.objects.get()
        assert (job.status, job.created_count, job.error_count) == ("validated", 1, 4)
        assert [(error["row"], error["field"]) for error in job.errors] == [(n, "occurred_at") for n in (3, 4, 5, 6)]
    response = client.post(f"/admin/partners/importjob/{job.pk}/import/", follow=True)
    assert response.status_code == 200
    with tenant_context(acme.tenant):
        job.refresh_from_db()
        assert (job.status, job.created_count, job.error_count) == ("done", 1, 4)
        assert list(Activity.objects.values_list("external_id", flat=True)) == ["Y-1"]


def test_a_claim_older_than_the_program_allows_is_a_form_error(acme: World, client_for) -> None:
    """Issue 17, items 28 and 8: a claim dated 1999 was accepted; year 0001 too."""
    client = client_for(acme, acme.partner_user)
    for occurred_on in ["1999-03-01", "0001-01-01"]:
        response = client.post(
            "/claims/new/",
            {
                "claim_type": "sale",
                "occurred_on": occurred_on,
                "invoice_number": "INV-1",
                "amount": "100.00",
                "evidence": SimpleUploadedFile("i.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf"),
            },
        )
        assert response.status_code == 200
        assert "occurred_on" in response.context["form"].errors
    assert not Activity.all_tenants.exists()


def test_api_moments_are_always_rfc_3339(acme: World, api: Client) -> None:
    """Issue 17, item 28: a stored year-0001 moment was listed as `0001-01-01T00:00:00-04:56:02`."""
    acme.tenant.time_zone = "America/New_York"
    acme.tenant.save(update_fields=["time_zone"])
    with tenant_context(acme.tenant):
        for number, moment in enumerate(
            [datetime(1, 1, 1, 5, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC), datetime(1850, 6, 1, tzinfo=UTC)]
        ):
            Activity.objects.create(  # data from before the checks: the output must still be valid
                partner=acme.partner, kind="training", occurred_at=moment, source="admin", external_id=f"L-{number}"
            )
    moments = [row["occurred_at"] for row in api.get("/api/v1/activities/").json()["results"]]
    assert len(moments) == 3
    assert all(RFC_3339.fullmatch(moment) for moment in moments), moments


def test_every_api_date_and_moment_field_is_range_checked_and_rfc_3339() -> None:
    """Issue 17, item 28: the API's serializers use api.serializers' DateField and DateTimeField, declared or mapped."""
    import api.serializers as module  # noqa: PLC0415

    unchecked = []
    for name in dir(module):
        serializer_class = getattr(module, name)
        if not (isinstance(serializer_class, type) and issubclass(serializer_class, rest_serializers.Serializer)):
            continue
        if getattr(serializer_class, "Meta", None) is None and issubclass(serializer_class, ModelSerializer):
            continue  # the base class itself
        for field_name, field in serializer_class().fields.items():
            ours = {rest_serializers.DateTimeField: module.DateTimeField, rest_serializers.DateField: module.DateField}
            for drf_class, our_class in ours.items():
                if type(field) is drf_class or (isinstance(field, drf_class) and not isinstance(field, our_class)):
                    unchecked.append(f"{name}.{field_name}")
    assert unchecked == []


# --- Found by Schemathesis against gunicorn (bench/schemathesis_live.py) -------------------------------------------


def test_a_repeated_query_parameter_is_a_400(acme: World, api: Client) -> None:
    """Issue 17 "Show": `?limit=5&limit=500` was read as its last value; no parameter of the API is a list."""
    response = api.get("/api/v1/partners/?limit=5&limit=500")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"limit": ["Give this parameter once."]}


def test_a_blank_idempotency_key_is_refused_not_ignored(acme: World, api: Client) -> None:
    """Issue 17 "Show": a present but blank Idempotency-Key (which the schema's pattern refuses) was taken as none."""
    response = api.post(
        "/api/v1/activities/",
        {"activities": [sale(acme, "B-1")]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=" ",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert api_activities(acme) == 0


def test_an_admin_add_form_ignores_query_values_its_fields_refuse(acme: World, client_for, settings) -> None:
    """Issue 17 "Show" (found by tests/test_forms_fuzz.py): `/admin/api/apikey/add/?expires_at=0` was a 500
    (Django prefills add forms from the query string; the split date-time widget cannot show "0")."""
    settings.MFA_REQUIRED = False
    client = client_for(acme, acme.manager)
    response = client.get("/admin/api/apikey/add/", {"expires_at": "0", "name": "a\x00"})
    assert response.status_code == 200
    assert response.context["adminform"].form.initial == {}
    response = client.get("/admin/api/apikey/add/", {"name": "CRM sync"})
    assert response.context["adminform"].form.initial == {"name": "CRM sync"}
