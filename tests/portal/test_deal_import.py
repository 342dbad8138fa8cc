"""Registering deals from a CSV file in the portal: checked whole first (nothing written while a row has a problem),
registered and submitted (conflicts detected), a second upload of the same file registers nothing; partner members
only, their own partner; the wrong kind of file is refused."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from deals.models import DealRegistration
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.conftest import World
from tests.deals.factories import register
from tests.partners.helpers import PDF_BYTES

pytestmark = pytest.mark.django_db
CLOSE = (timezone.localdate() + timedelta(days=60)).isoformat()
HEADER = "external_id,customer_name,customer_domain,customer_country,amount,currency,expected_close,notes\n"


def csv_file(*rows: str, header: str = HEADER, name: str = "deals.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (header + "".join(rows)).encode(), content_type="text/csv")


GOOD = (
    f"OPP-1,ACME Corp.,acme-customer.com,US,25000.00,USD,{CLOSE},First\n",
    f'OPP-2,Initech,,DE,1200,EUR,{CLOSE},"Two lines,\nquoted"\n',
)


def deals(world: World) -> list[tuple[str, str, str]]:
    with tenant_context(world.tenant):
        return list(DealRegistration.objects.order_by("external_id").values_list("external_id", "source", "status"))


def test_a_good_file_registers_each_row_once_and_a_second_upload_nothing(acme: World, client_for) -> None:
    with tenant_context(acme.tenant):
        other = register(acme.unmanaged_partner, customer_name="Acme Corporation")
    client = client_for(acme, acme.partner_user)
    response = client.post("/deals/import/", {"file": csv_file(*GOOD)}, follow=True)
    assert "2 deals registered from the file and submitted for review." in response.content.decode()
    assert deals(acme) == [("", "portal", "submitted"), ("OPP-1", "csv", "submitted"), ("OPP-2", "csv", "submitted")]
    with tenant_context(acme.tenant):
        first = DealRegistration.objects.get(external_id="OPP-1")
        assert [conflict.other_id for conflict in first.conflicts.all()] == [other.pk]
        assert first.partner == acme.partner
        assert DealRegistration.objects.get(external_id="OPP-2").notes == "Two lines,\nquoted"

    again = client.post("/deals/import/", {"file": csv_file(*GOOD)}, follow=True).content.decode()
    assert "0 deals registered" in again
    assert "2 rows were registered before: nothing changed for them." in again
    assert len(deals(acme)) == 3


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        (f"OPP-9,Hooli,,US,-5,USD,{CLOSE},\n", "amount", "Give the estimated amount, more than zero."),
        (f"OPP-9,Hooli,,US,1e40,USD,{CLOSE},\n", "amount", "Give the estimated amount, more than zero."),
        (f"OPP-9,Hooli,,XX,5,USD,{CLOSE},\n", "customer_country", "Give the country as a two-letter code (e.g. US)."),
        ("OPP-9,Hooli,,US,5,USD,31/12/2027,\n", "expected_close", "Give the date as YYYY-MM-DD."),
        ("OPP-9,Hooli,,US,5,USD,2001-01-01,\n", "expected_close", "The expected close date is in the past."),
        (
            f"OPP-9,Hooli,,US,5,XXX,{CLOSE},\n",
            "currency",
            "Unknown currency 'XXX': give a three-letter ISO 4217 code.",
        ),
        (
            f",Hooli,,US,5,USD,{CLOSE},\n",
            "external_id",
            "Give the opportunity's id in your CRM: it makes a re-upload safe.",
        ),
        (f"OPP-1,Hooli,,US,5,USD,{CLOSE},\n", "external_id", "Repeats row 2."),
        (f"OPP-9,Hooli,,US,5,USD,{CLOSE},,extra\n", "(extra cells)", "This row has more cells than the header."),
    ],
)
def test_a_row_with_a_problem_is_named_and_nothing_is_written(
    acme: World, client_for, row: str, column: str, message: str | None
) -> None:
    response = client_for(acme, acme.partner_user).post("/deals/import/", {"file": csv_file(GOOD[0], row)})
    assert response.status_code == 400
    problems = [(r.number, c, m) for r in response.context["problem_rows"] for c, m in r.errors.items()]
    assert [(number, name) for number, name, _message in problems] == [(3, column)]
    if message:
        assert problems[0][2] == message
    assert "nothing was registered" in response.content.decode()
    assert deals(acme) == []


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("deals.pdf", PDF_BYTES, content_type="application/pdf"), None),
        (csv_file(header="customer,amount\n"), "Unknown columns: 'customer'."),
        (csv_file(header=HEADER), "The file has a header but no rows."),
        (SimpleUploadedFile("deals.csv", b"\xff\xfe\x00bad", content_type="text/csv"), None),
        (csv_file(f"OPP-9,Hooli\x00,,US,5,USD,{CLOSE},\n"), None),  # a NUL: not text
    ],
)
def test_the_wrong_file_is_refused(acme: World, client_for, upload, message: str | None) -> None:
    response = client_for(acme, acme.partner_user).post("/deals/import/", {"file": upload})
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["file"])
    assert errors
    if message:
        assert message in errors
    assert deals(acme) == []


def test_the_import_pages_are_for_partner_members_of_this_tenant(
    acme: World, globex: World, outsider, client_for
) -> None:
    for path in ("/deals/import/", "/deals/import/template.csv"):
        assert client_for(acme, acme.partner_admin).get(path).status_code == 200
        for role in (Role.OWNER, Role.PROGRAM_MANAGER, Role.ACCOUNT_MANAGER, Role.FINANCE):
            assert client_for(acme, acme.user_for(role)).get(path).status_code == 403
        assert client_for(acme, globex.partner_admin).get(path).status_code == 403
        assert client_for(acme, outsider).get(path).status_code == 403
        assert client_for(acme).get(path).status_code == 302
    assert client_for(acme, globex.partner_admin).post("/deals/import/", {"file": csv_file(*GOOD)}).status_code == 403
    assert deals(acme) == []


def test_the_template_has_every_column_and_an_example(acme: World, client_for) -> None:
    response = client_for(acme, acme.partner_user).get("/deals/import/template.csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("external_id,customer_name,customer_domain,customer_country")
    assert "Contoso Retail Group" in lines[1]
