"""Emails about applications to join: the address check, and the answer when it is no."""

from django.core import mail
from django.template.loader import render_to_string
from django.utils import translation

from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.selectors import tenant_base_url
from loyalty.tenancy.tasks import tenant_task
from partners.models import PartnerApplication
from partners.selectors import application_token


def _send(*, application: PartnerApplication, template: str, **context: object) -> None:
    tenant = current_tenant()
    context = {"application": application, "tenant": tenant, **context}
    # The applicant has no account, hence no language of their own: the program's language.
    with translation.override(tenant.language):
        subject = render_to_string(f"partners/email/{template}_subject.txt", context).strip()
        body = render_to_string(f"partners/email/{template}_message.txt", context)
    mail.send_mail(subject, body, None, [application.contact_email])


@tenant_task(name="partners.application_verification_send")
def application_verification_send(*, tenant_id: int, application_id: int) -> None:
    """Email the contact the link that confirms their address (nothing once the application moved on)."""
    application = PartnerApplication.objects.filter(
        pk=application_id, status=PartnerApplication.Status.UNVERIFIED
    ).first()
    if application is None:
        return
    url = f"{tenant_base_url(tenant=current_tenant())}/apply/confirm/{application_token(application=application)}/"
    _send(application=application, template="application_verify", confirm_url=url)


@tenant_task(name="partners.application_rejection_send")
def application_rejection_send(*, tenant_id: int, application_id: int) -> None:
    """Tell the contact that the application was turned down, and why."""
    application = PartnerApplication.objects.get(pk=application_id, status=PartnerApplication.Status.REJECTED)
    _send(application=application, template="application_rejected")
