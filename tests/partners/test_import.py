"""CSV import of activities in the tenant admin: upload checks, dry-run report, import, idempotency, roles, worker."""

import html
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from imports.services import CHUNK_ROWS, IMPORT_COLUMNS, import_job_create
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from partners.models import Activity, ImportJob
from tests.conftest import World
from tests.partners.helpers import balance_of, sales_rule
from tests.support import wait_for

HEADER = "partner,external_id,kind,occurred_at,amount,currency,quantity"
ADD_URL = "/admin/partners/importjob/add/"
LIST_URL = "/admin/partners/importjob/"


def csv_bytes(world: World, count: int = 3, bad_rows: tuple[int, ...] = (), prefix: str = "INV") -> bytes:
    """A CSV of `count` sales of 10 for the world's partner; the rows at `bad_rows` (0-based) have a bad amount."""
    day = (timezone.now() - timedelta(days=2)).date().isoformat()
    lines = [HEADER]
    for n in range(count):
        amount = "ten" if n in bad_rows else "10"
        lines.append(f"{world.partner.external_id},{prefix}-{n},sale,{day},{amount},USD,1")
    return ("\r\n".join(lines) + "\r\n").encode()


def upload(client, content: bytes, name: str = "activities.csv", approve: bool = True):  # noqa: ANN001, ANN201
    data = {"file": SimpleUploadedFile(name, content, content_type="text/csv")}
    if approve:
        data["approve"] = "on"
    return client.post(ADD_URL, data)


def job_url(job: ImportJob, suffix: str = "change/") -> str:
    return f"/admin/partners/importjob/{job.pk}/{suffix}"


def only_job(world: World) -> ImportJob:
    with tenant_context(world.tenant):
        return ImportJob.objects.get()


def activities(world: World) -> int:
    with tenant_context(world.tenant):
        return Activity.objects.count()


def test_upload_shows_the_dry_run_then_import_commits(acme: World, client_for) -> None:
    sales_rule(acme)
    client = client_for(acme, acme.manager)
    response = upload(client, csv_bytes(acme, 3, bad_rows=(1,)))
    job = only_job(acme)
    assert response.status_code == 302
    assert response["Location"] == job_url(job)
    assert (job.status, job.total_rows, job.processed_rows) == ("validated", 3, 3)
    assert job.file.name.startswith(f"imports/{acme.tenant.pk}/")  # private storage, a random name per tenant
    assert job.original_name == "activities.csv"
    assert (job.created_count, job.duplicate_count, job.error_count) == (2, 0, 1)
    assert job.errors == [{"row": 3, "field": "amount", "message": "Give the amount as a number, like 1250.00."}]
    assert [row["status"] for row in job.preview] == ["created", "error", "created"]
    assert job.preview[1]["cells"][: len(HEADER.split(","))] == [
        acme.partner.external_id,
        "INV-1",
        "sale",
        job.preview[1]["cells"][3],
        "ten",
        "USD",
        "1",
    ]
    assert activities(acme) == 0  # the dry run wrote nothing

    page = client.get(job_url(job)).content.decode()
    assert "Give the amount as a number, like 1250.00." in page
    assert '<progress id="import-bar" max="3" value="3">' in page
    assert "3 / 3 rows" in page
    assert "Import 2 activities" in page

    response = client.post(job_url(job, "import/"))
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.created_count, job.duplicate_count, job.error_count) == ("done", 2, 0, 1)
    assert job.finished_at is not None
    with tenant_context(acme.tenant):
        imported = Activity.objects.order_by("external_id")
        assert [(a.external_id, a.source, a.status, a.created_by_id) for a in imported] == [
            ("INV-0", "csv", "approved", acme.manager.pk),
            ("INV-2", "csv", "approved", acme.manager.pk),
        ]
    assert balance_of(acme) == 20
    assert "Import done: 2 created, 0 already there, 1 with errors." in client.get(job_url(job)).content.decode()


def test_unticked_approval_records_pending_activities_without_points(acme: World, client_for) -> None:
    sales_rule(acme)
    client = client_for(acme, acme.manager)
    upload(client, csv_bytes(acme, 2), approve=False)
    client.post(job_url(only_job(acme), "import/"))
    with tenant_context(acme.tenant):
        assert set(Activity.objects.values_list("status", flat=True)) == {"pending"}
        assert LedgerEntry.objects.count() == 0


def test_importing_the_same_file_again_creates_nothing(acme: World, client_for) -> None:
    sales_rule(acme)
    client = client_for(acme, acme.manager)
    content = csv_bytes(acme, 3, bad_rows=(1,))
    upload(client, content)
    client.post(job_url(only_job(acme), "import/"))
    upload(client, content)
    with tenant_context(acme.tenant):
        again = ImportJob.objects.order_by("-pk").first()
    assert (again.created_count, again.duplicate_count, again.error_count) == (0, 2, 1)
    client.post(job_url(again, "import/"))
    again.refresh_from_db()
    assert (again.status, again.created_count, again.duplicate_count) == ("done", 0, 2)
    assert activities(acme) == 2
    assert balance_of(acme) == 20


def test_a_job_is_imported_once(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    upload(client, csv_bytes(acme, 2))
    job = only_job(acme)
    client.post(job_url(job, "import/"))
    response = client.post(job_url(job, "import/"), follow=True)
    assert "Only a checked import can be imported; this one is Done." in response.content.decode()
    assert activities(acme) == 2


def test_a_byte_order_mark_and_repeats_in_the_file_are_handled(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    content = b"\xef\xbb\xbf" + csv_bytes(acme, 2) + csv_bytes(acme, 2).split(b"\r\n", 1)[1]
    upload(client, content)
    job = only_job(acme)
    assert (job.total_rows, job.created_count, job.duplicate_count, job.error_count) == (4, 2, 2, 0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("partner,external_id,kind,occurred_at\r\nP,1,sale,2026-01-01\r\n".encode("utf-16"), "The file is not UTF-8"),
        ("partner,external_id,kind,occurred_at\r\nPé,1,sale,2026-01-01\r\n".encode("latin-1"), "(byte 40)"),
        (b"partner,kind\r\nP,sale\r\n", "Missing columns: external_id, occurred_at."),
        (b"partner,external_id,kind,occurred_at,colour\r\nP,1,sale,2026-01-01,red\r\n", "Unknown columns: 'colour'."),
        (b"partner,external_id,kind,occurred_at,kind\r\n", "Repeated columns: kind."),
        (HEADER.encode() + b"\r\n", "The file has a header but no rows."),
        (b"", "The submitted file is empty."),
        (b"\r\n", "The file has no header row."),
    ],
)
def test_bad_files_are_refused_with_a_clear_error_and_nothing_written(
    acme: World, client_for, settings, content: bytes, message: str
) -> None:
    client = client_for(acme, acme.manager)
    response = upload(client, content)
    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    with tenant_context(acme.tenant):
        assert ImportJob.objects.count() == 0
    assert not (Path(settings.MEDIA_ROOT) / "imports").exists()


def test_an_oversized_file_is_refused(acme: World, client_for, settings) -> None:
    settings.IMPORT_MAX_BYTES = 100
    response = upload(client_for(acme, acme.manager), csv_bytes(acme, 5))
    assert "Files are limited to 0 MB; split it." in response.content.decode()
    with tenant_context(acme.tenant):
        assert ImportJob.objects.count() == 0


def test_the_template_has_the_documented_columns_and_its_header_is_accepted(acme: World, client_for) -> None:
    client = client_for(acme, acme.manager)
    response = client.get(reverse("admin:partners_importjob_template", urlconf="loyalty.urls_tenant"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="activities-template.csv"'
    content = response.content
    assert content.decode().splitlines()[0] == ",".join(IMPORT_COLUMNS)
    upload(client, content)
    job = only_job(acme)
    assert job.status == "validated"
    assert {error["message"] for error in job.errors} == {"Unknown partner 'CRM-00042'."}


def test_the_upload_page_documents_the_columns(acme: World, client_for) -> None:
    page = client_for(acme, acme.manager).get(ADD_URL).content.decode()
    for column in IMPORT_COLUMNS:
        assert f"<code>{column}</code>" in page
    assert "Download a template CSV" in page


# --- Who may import ----------------------------------------------------------------------------------------------


@pytest.fixture
def acme_job(acme: World) -> ImportJob:
    with tenant_context(acme.tenant):
        return import_job_create(file=SimpleUploadedFile("a.csv", csv_bytes(acme, 2)), actor=acme.manager, approve=True)


def job_urls(job: ImportJob) -> list[tuple[str, str]]:
    return [
        ("get", LIST_URL),
        ("get", ADD_URL),
        ("get", f"{LIST_URL}template.csv"),
        ("get", job_url(job)),
        ("get", job_url(job, "progress/")),
        ("post", job_url(job, "import/")),
    ]


def test_owner_may_use_every_page(acme: World, acme_job: ImportJob, client_for) -> None:
    client = client_for(acme, acme.owner)
    for method, url in job_urls(acme_job)[:-1]:
        assert getattr(client, method)(url).status_code == 200, url


@pytest.mark.parametrize("role", [Role.ACCOUNT_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER])
def test_other_roles_are_refused(acme: World, acme_job: ImportJob, client_for, role: Role) -> None:
    client = client_for(acme, acme.user_for(role))
    for method, url in job_urls(acme_job):
        assert getattr(client, method)(url).status_code == 403, url
    assert upload(client, csv_bytes(acme, 1, prefix="X")).status_code == 403
    acme_job.refresh_from_db()
    assert acme_job.status == "validated"
    assert activities(acme) == 0


def test_outsiders_and_other_tenants_staff_are_refused(
    acme: World, globex: World, outsider, acme_job: ImportJob, client_for
) -> None:
    for user in (outsider, globex.manager):
        client = client_for(acme, user)
        for method, url in job_urls(acme_job):
            assert getattr(client, method)(url).status_code == 403, (user, url)
    anonymous = client_for(acme)
    assert anonymous.get(job_url(acme_job)).status_code == 302
    assert activities(acme) == 0


def test_another_tenants_job_is_not_found(acme: World, globex: World, acme_job: ImportJob, client_for) -> None:
    client = client_for(globex, globex.manager)
    for method, url in job_urls(acme_job)[3:]:
        assert getattr(client, method)(url).status_code == 404, url
    assert client.get(f"{LIST_URL}nope/change/").status_code == 404
    acme_job.refresh_from_db()
    assert acme_job.status == "validated"
    assert activities(acme) == 0


def test_pages_keep_their_query_count(acme: World, client_for, django_assert_max_num_queries) -> None:
    client = client_for(acme, acme.manager)
    upload(client, csv_bytes(acme, 3, bad_rows=(0, 1, 2)))
    job = only_job(acme)
    counts = []
    for extra in (0, 20):
        for n in range(extra):
            upload(client, csv_bytes(acme, 3, bad_rows=(0, 1), prefix=f"M{n}"))
        # Session, user, membership (tenant middleware) + admin list: count, rows with their uploader, filter facets.
        with django_assert_max_num_queries(12) as listed:
            assert client.get(LIST_URL).status_code == 200
        # Session, user, membership + the job with its uploader.
        with django_assert_max_num_queries(6) as shown:
            assert client.get(job_url(job)).status_code == 200
        counts.append((len(listed.captured_queries), len(shown.captured_queries)))
    assert counts[0] == counts[1]


# --- Large files: a Celery worker, chunks, progress --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_large_file_is_checked_and_imported_by_a_worker_in_chunks(acme: World, client_for, worker) -> None:
    sales_rule(acme)
    client = client_for(acme, acme.manager)
    rows = 4_500  # more than the request imports, and more than one chunk
    response = upload(client, csv_bytes(acme, rows, bad_rows=(4_000,)))
    job = only_job(acme)
    assert response["Location"] == job_url(job)

    def status_is(status: str) -> bool:
        job.refresh_from_db()
        return job.status == status

    assert wait_for(lambda: status_is("validated"), seconds=120), (job.status, job.failure)
    assert (job.processed_rows, job.created_count, job.error_count) == (rows, rows - 1, 1)
    assert job.errors == [{"row": 4_002, "field": "amount", "message": "Give the amount as a number, like 1250.00."}]
    assert activities(acme) == 0

    client.post(job_url(job, "import/"))
    progress = client.get(job_url(job, "progress/"), HTTP_HX_REQUEST="true")
    assert progress.status_code == 200
    seen = set()

    def finished() -> bool:
        seen.add(only_job(acme).processed_rows)
        return status_is("done")

    assert wait_for(finished, seconds=180), (job.status, job.failure)
    assert (job.processed_rows, job.created_count, job.duplicate_count, job.error_count) == (rows, rows - 1, 0, 1)
    assert seen <= {0, *range(CHUNK_ROWS, rows, CHUNK_ROWS), rows}
    assert activities(acme) == rows - 1
    assert balance_of(acme) == 10 * (rows - 1)
    done = client.get(job_url(job, "progress/"), HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    page = client.get(job_url(job)).content.decode()
    assert f'<progress id="import-bar" max="{rows}" value="{rows}">' in page
    assert "4,500 / 4,500 rows" in page
