"""A registration's attachments: scanned by content when the deal is registered (a wrong file refuses the whole
registration, nothing written), listed on its page, served sandboxed to whoever sees its partner and to nobody else."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from deals.models import DealAttachment, DealRegistration
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from tests.conftest import World
from tests.factories import MembershipFactory
from tests.partners.helpers import PDF_BYTES, PNG_BYTES, pdf
from tests.portal.test_deals import register_post

pytestmark = pytest.mark.django_db


def png(name: str = "bom.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PNG_BYTES, content_type="image/png")


def counts(world: World) -> tuple[int, int]:
    with tenant_context(world.tenant):
        return DealRegistration.objects.count(), DealAttachment.objects.count()


def registered_with_files(world: World, client_for) -> DealRegistration:
    response = client_for(world, world.partner_user).post(
        "/deals/new/", register_post(attachments=[pdf("request.pdf"), png()])
    )
    assert response.status_code == 302
    with tenant_context(world.tenant):
        return DealRegistration.objects.prefetch_related("attachments").get()


def test_attachments_are_kept_listed_and_served_sandboxed(acme: World, client_for) -> None:
    deal = registered_with_files(acme, client_for)
    attachments = list(deal.attachments.all())
    assert [(a.original_name, a.content_type, a.uploaded_by) for a in attachments] == [
        ("request.pdf", "application/pdf", acme.partner_user),
        ("bom.png", "image/png", acme.partner_user),
    ]
    assert "request" not in attachments[0].file.name  # stored under a random name
    page = client_for(acme, acme.partner_user).get(f"/deals/{deal.pk}/").content.decode()
    assert f'href="/deals/attachments/{attachments[0].pk}/"' in page
    for user in (acme.partner_user, acme.partner_admin, acme.manager, acme.owner, acme.account_manager):
        response = client_for(acme, user).get(f"/deals/attachments/{attachments[0].pk}/")
        assert response.status_code == 200, user
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
        assert b"".join(response.streaming_content) == PDF_BYTES


def test_another_partner_another_tenant_and_strangers_get_404(acme: World, globex: World, outsider, client_for):
    attachment_id = registered_with_files(acme, client_for).attachments.first().pk
    url = f"/deals/attachments/{attachment_id}/"
    other_partner_user = MembershipFactory(
        tenant=acme.tenant, role=Role.PARTNER_USER, partner=acme.unmanaged_partner
    ).user
    assert client_for(acme, other_partner_user).get(url).status_code == 404
    assert client_for(acme, acme.user_for(Role.FINANCE)).get(url).status_code == 404
    assert client_for(acme, globex.partner_admin).get(url).status_code == 403
    assert client_for(acme, outsider).get(url).status_code == 403
    assert client_for(acme).get(url).status_code == 302
    # The same id on the other tenant's host is not found there.
    assert client_for(globex, globex.manager).get(url).status_code == 404


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([SimpleUploadedFile("quote.html", b"<script>alert(1)</script>", "text/html")], "quote.html: "),
        ([SimpleUploadedFile("quote.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")], "quote.pdf: "),
        ([pdf(f"file-{number}.pdf") for number in range(6)], "Attach at most 5 files."),
    ],
)
def test_a_wrong_or_one_file_too_many_refuses_the_registration(
    acme: World, client_for, files: list, message: str
) -> None:
    response = client_for(acme, acme.partner_user).post("/deals/new/", register_post(attachments=files))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["attachments"])
    assert counts(acme) == (0, 0)
