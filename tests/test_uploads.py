"""Upload scanning and body caps: files are judged by content, oversize bodies get a clear refusal, nothing written."""

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Tenant
from loyalty.uploads import CSV_TEXT, EVIDENCE, IMAGE, upload_scan
from partners.models import Activity, Claim, ImportJob
from rewards.models import Reward
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.partners.helpers import PDF_BYTES, PNG_BYTES

YESTERDAY = timezone.localdate() - timedelta(days=1)
CSV_BYTES = b"partner,external_id,kind,occurred_at\r\nP-1,E-1,sale,2026-01-01\r\n"


def image_bytes(image_format: str, size: tuple[int, int] = (4, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "#2a6f97").save(buffer, format=image_format)
    return buffer.getvalue()


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    # The browser's Content-Type is whatever the sender says; the scan never reads it.
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


@pytest.mark.parametrize(
    ("kind", "name", "content", "content_type"),
    [
        (EVIDENCE, "invoice.pdf", PDF_BYTES, "application/pdf"),
        (EVIDENCE, "receipt.PNG", PNG_BYTES, "image/png"),
        (EVIDENCE, "receipt.jpeg", image_bytes("JPEG"), "image/jpeg"),
        (IMAGE, "logo.png", PNG_BYTES, "image/png"),
        (IMAGE, "photo.jpg", image_bytes("JPEG"), "image/jpeg"),
        (IMAGE, "badge.gif", image_bytes("GIF"), "image/gif"),
        (IMAGE, "hero.webp", image_bytes("WEBP"), "image/webp"),
        (CSV_TEXT, "activities.csv", CSV_BYTES, "text/csv"),
        (CSV_TEXT, "activities.csv", "partner,name\r\nP-1,Müller\r\n".encode(), "text/csv"),
    ],
)
def test_real_files_of_each_kind_are_accepted_with_their_sniffed_type(kind, name, content, content_type) -> None:
    file = upload(name, content)
    assert upload_scan(file=file, kind=kind) == content_type
    assert file.tell() == 0  # rewound for whoever stores it


GIFAR = image_bytes("GIF") + b"PK\x03\x04 payload" + b"PK\x05\x06" + b"\x00" * 18
PDF_WITH_SCRIPT = b"%PDF-1.4\n1 0 obj\n<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\nendobj\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("kind", "name", "content", "message"),
    [
        (EVIDENCE, "invoice.pdf", b"MZ\x90\x00 a program", "must be PDF, PNG or JPEG"),
        (EVIDENCE, "invoice.png", PDF_BYTES, "must be PDF, PNG or JPEG"),  # extension and content disagree
        (EVIDENCE, "invoice.html", b"<html><script>alert(1)</script></html>", "must be PDF, PNG or JPEG"),
        (EVIDENCE, "invoice.pdf", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "The PDF is damaged"),
        (EVIDENCE, "invoice.pdf", PDF_WITH_SCRIPT + b"trailer\n<<>>\n%%EOF\n", "PDFs with scripts"),
        (EVIDENCE, "invoice.pdf", PDF_BYTES.replace(b"%%EOF", b"<html><script>x</script>%%EOF"), "web page"),
        (EVIDENCE, "receipt.png", PNG_BYTES[:40], "damaged or not really an image"),
        (IMAGE, "logo.svg", SVG, "must be PNG, JPEG, GIF or WebP"),
        (IMAGE, "logo.png", SVG, "must be PNG, JPEG, GIF or WebP"),
        (IMAGE, "logo.jpg", PNG_BYTES, "must be PNG, JPEG, GIF or WebP"),
        (IMAGE, "logo.pdf", PDF_BYTES, "must be PNG, JPEG, GIF or WebP"),
        (IMAGE, "badge.gif", GIFAR, "archive content"),
        (IMAGE, "logo.png", PNG_BYTES + b"<script>alert(1)</script>", "web page, script"),
        (CSV_TEXT, "activities.csv", PNG_BYTES, "not CSV text"),
        (CSV_TEXT, "activities.csv", b"partner\r\nP\x00-1\r\n", "contains NUL bytes"),
        (CSV_TEXT, "activities.csv", "partner\r\nPé\r\n".encode("latin-1"), "not UTF-8 text (byte 11)"),
        (CSV_TEXT, "activities.xlsx", CSV_BYTES, "must be CSV"),
    ],
)
def test_files_that_are_not_what_they_claim_are_refused(kind, name, content, message) -> None:
    with pytest.raises(ValidationError) as refusal:
        upload_scan(file=upload(name, content), kind=kind, field="file")
    assert message in " ".join(refusal.value.message_dict["file"])


@pytest.mark.parametrize(("kind", "setting"), [(EVIDENCE, "EVIDENCE_MAX_BYTES"), (IMAGE, "IMAGE_MAX_BYTES")])
def test_each_kind_has_its_own_size_cap_from_settings(settings, kind, setting) -> None:
    setattr(settings, setting, len(PNG_BYTES) - 1)
    with pytest.raises(ValidationError, match="limited to 0 MB"):
        upload_scan(file=upload("logo.png", PNG_BYTES), kind=kind)
    setattr(settings, setting, len(PNG_BYTES))
    assert upload_scan(file=upload("logo.png", PNG_BYTES), kind=kind) == "image/png"


def test_an_image_that_decodes_to_too_many_pixels_is_refused(settings) -> None:
    settings.IMAGE_MAX_PIXELS = 99 * 99
    with pytest.raises(ValidationError, match=r"too large \(10000 pixels\)"):
        upload_scan(file=upload("big.png", image_bytes("PNG", (100, 100))), kind=IMAGE)


# --- Through the pages ------------------------------------------------------------------------------------------


def test_a_claim_with_oversize_evidence_is_refused_and_nothing_is_written(acme: World, client_for, settings) -> None:
    settings.EVIDENCE_MAX_BYTES = 2**20
    evidence = upload("invoice.pdf", PDF_BYTES[:-6] + b" " * 2**20 + b"%%EOF\n")
    post = {"claim_type": "sale", "occurred_on": YESTERDAY.isoformat(), "invoice_number": "I-1", "amount": "10"}
    response = client_for(acme, acme.partner_user).post("/claims/new/", {**post, "evidence": evidence})
    assert response.status_code == 200
    assert "Files are limited to 1 MB." in response.content.decode()
    assert not Claim.all_tenants.exists()
    assert not Activity.all_tenants.exists()
    assert not (Path(settings.MEDIA_ROOT) / "evidence" / str(acme.tenant.pk)).exists()


def test_a_body_over_the_request_cap_is_refused_with_413_before_it_is_read(acme: World, client_for, settings) -> None:
    settings.REQUEST_MAX_BYTES = 50_000
    content = CSV_BYTES + b"P-1,E-2,sale,2026-01-01\r\n" * 3_000
    response = client_for(acme, acme.manager).post(
        "/admin/partners/importjob/add/", {"file": upload("activities.csv", content), "approve": "on"}
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "the limit is 50000 bytes" in response.content.decode()
    assert not ImportJob.all_tenants.exists()


def test_a_csv_import_that_is_not_text_is_refused_and_nothing_is_written(acme: World, client_for, settings) -> None:
    response = client_for(acme, acme.manager).post(
        "/admin/partners/importjob/add/", {"file": upload("activities.csv", PNG_BYTES), "approve": "on"}
    )
    assert response.status_code == 200
    assert "The file is a image/png file, not CSV text." in response.content.decode()
    assert not ImportJob.all_tenants.exists()
    assert not (Path(settings.MEDIA_ROOT) / "imports").exists()


def test_an_api_body_over_its_cap_gets_413_in_the_api_error_shape(acme: World, settings) -> None:
    settings.API_MAX_BODY_BYTES = 10_000
    client = api_client(acme, make_key(acme)[1])
    row = {"partner": acme.partner.external_id, "kind": "sale", "occurred_at": "2026-01-01T00:00:00Z"}
    rows = [{**row, "external_id": f"E-{n}", "amount": "10.00", "currency": "USD"} for n in range(200)]
    body = json.dumps({"activities": rows})
    response = client.post("/api/v1/activities/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "type": "request_too_large",
            "code": "request_too_large",
            "message": f"The request body is {len(body)} bytes; the limit is 10000 bytes.",
        }
    }
    assert not Activity.all_tenants.exists()
    small = client.post("/api/v1/activities/", {"activities": rows[:1]}, content_type="application/json")
    assert small.status_code == 200


def test_a_reward_image_carrying_a_script_is_refused_in_the_admin(acme: World, client_for) -> None:
    # Django's ImageField accepts it (Pillow opens the PNG); the scan sees the script after the image data.
    polyglot = upload("mug.png", PNG_BYTES + b"<script>alert(document.cookie)</script>")
    fields = {"sku": "MUG", "name": "Mug", "kind": "merchandise", "status": "active", "points_cost": "100"}
    fields |= {"fulfilment": "manual", "limit_period": "month", "image": polyglot}
    response = client_for(acme, acme.manager).post("/admin/rewards/reward/add/", fields)
    assert response.status_code == 200
    assert "The file also carries web page, script or archive content." in response.content.decode()
    assert not Reward.all_tenants.exists()


def test_a_polyglot_logo_is_refused_and_the_old_logo_kept(acme: World, client_for) -> None:
    acme.tenant.logo.save("acme.png", ContentFile(PNG_BYTES))
    client = client_for(acme, acme.manager)
    url = f"/admin/tenancy/programsettings/{acme.tenant.pk}/change/"
    form = client.get(url).context["adminform"].form
    fields = {name: value for name, value in form.initial.items() if value is not None and name != "logo"}
    response = client.post(url, {**fields, "logo": upload("logo.gif", GIFAR)})
    assert response.status_code == 200
    assert "archive content" in response.content.decode()
    assert Tenant.objects.get(pk=acme.tenant.pk).logo.name == acme.tenant.logo.name


# --- Served back ------------------------------------------------------------------------------------------------


def _activity_with_evidence(world: World, name: str, content: bytes) -> Activity:
    with tenant_context(world.tenant):
        activity = Activity.objects.create(
            partner=world.partner, kind="sale", occurred_at=timezone.now(), source=Activity.Source.CLAIM
        )
        activity.evidence.save(name, ContentFile(content))
        return activity


def test_evidence_is_served_inline_as_its_sniffed_type_under_a_fixed_name(acme: World, client_for) -> None:
    activity = _activity_with_evidence(acme, "my <invoice>.png", PNG_BYTES)
    response = client_for(acme, acme.manager).get(f"/evidence/{activity.pk}/")
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == f'inline; filename="evidence-{activity.pk}.png"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"


def test_a_stored_file_that_is_not_evidence_is_only_ever_downloaded(acme: World, client_for) -> None:
    activity = _activity_with_evidence(acme, "page.pdf", b"<html><script>alert(1)</script></html>")
    response = client_for(acme, acme.manager).get(f"/evidence/{activity.pk}/")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == f'attachment; filename="evidence-{activity.pk}.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
