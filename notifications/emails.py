"""Notification emails: one template file holds every kind's subject and body; each is rendered in the
recipient's language, with the program's name, colour and an unsubscribe link."""

from collections.abc import Sequence
from datetime import date

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import translation

from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import User
from loyalty.tenancy.selectors import tenant_base_url
from loyalty.translations import names_replaced, names_translated, reader_language
from notifications.models import Notification
from tiers.models import Criterion, Tier
from tiers.wording import gap_sentence

MESSAGES = "notifications/messages.html"
UNSUBSCRIBE_SALT = "tierline.notifications.unsubscribe"
ALL_KINDS = "all"


def unsubscribe_url(*, user: User, kind: str) -> str:
    """A link that stops one kind of email (or ALL_KINDS) for one member of the current tenant, without signing in."""
    tenant = current_tenant()
    token = signing.dumps({"user": user.pk, "tenant": tenant.pk, "kind": kind}, salt=UNSUBSCRIBE_SALT)
    return f"{tenant_base_url(tenant=tenant)}/notifications/unsubscribe/{token}/"


def language_of(user: User) -> str:
    return user.language or current_tenant().language or settings.LANGUAGE_CODE


# Context values stored as ISO dates (JSON has no dates), turned back into dates for localised formatting.
DATE_KEYS = ("expires_on", "on", "month", "protected_until")


def _gap_in_words(gaps: dict) -> str:
    """The stored gap to the next tier in words, in the active language (the row keeps the figures, not text)."""
    criterion_ids = [item["criterion"] for item in gaps.get("criteria", [])]
    found = Criterion.objects.filter(pk__in=criterion_ids).values_list("pk", "activity_kind", "label", "translations")
    kinds = {pk: kind for pk, kind, _label, _translations in found}
    labels = names_translated(((pk, label, translations) for pk, _kind, label, translations in found), "label")
    gaps = names_replaced(gaps, labels, id_key="criterion", name_key="label")
    next_tier = Tier.objects.filter(pk=(gaps.get("next_tier") or {}).get("id")).first()
    if next_tier is not None:
        gaps = names_replaced(gaps, {next_tier.pk: next_tier.i18n.name})
    return gap_sentence(gaps=gaps, kinds=kinds, currency=current_tenant().currency)


def notification_text(notification: Notification, part: str) -> str:
    """A notification's `subject` or `body` as plain text, in the active language."""
    stored = notification.context
    # Names staff typed (tiers, rewards) and benefits, in the reader's language where the program translated them.
    context = {**stored, **stored.get("i18n", {}).get(reader_language(), {}), "tenant": current_tenant()}
    for key in DATE_KEYS:
        if context.get(key):
            context[key] = date.fromisoformat(context[key])
    if part == "body" and context.get("gaps"):
        context["gap"] = _gap_in_words(context["gaps"])
    # Plain text: rendered without HTML escaping (the HTML email and the portal escape it where they show it).
    template = get_template(f"{MESSAGES}#{notification.kind}-{part}").template
    return template.render(Context(context, autoescape=False)).strip()


def _email(
    *, user: User, subject: str, items: Sequence[tuple[str, str, str]], unsubscribe: str
) -> EmailMultiAlternatives:
    tenant = current_tenant()
    base_url = tenant_base_url(tenant=tenant)
    context = {
        "tenant": tenant,
        "user": user,
        "items": [{"subject": title, "body": body, "url": f"{base_url}{link}"} for title, body, link in items],
        "settings_url": f"{base_url}/notifications/settings/",
        "unsubscribe_url": unsubscribe,
        "logo_url": f"{base_url}/branding/logo/" if tenant.logo else "",
    }
    message = EmailMultiAlternatives(
        subject=f"{tenant.name}: {subject}",
        body=render_to_string("notifications/email.txt", context),
        to=[user.email],
        headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    message.attach_alternative(render_to_string("notifications/email.html", context), "text/html")
    return message


def notification_email(notification: Notification) -> EmailMultiAlternatives:
    """One notification as an email to its recipient; its unsubscribe link stops this kind."""
    user = notification.recipient
    with translation.override(language_of(user)):
        subject = notification_text(notification, "subject")
        item = (subject, notification_text(notification, "body"), notification.context.get("link", "/"))
        link = unsubscribe_url(user=user, kind=notification.kind)
        return _email(user=user, subject=subject, items=[item], unsubscribe=link)


def digest_email(user: User, notifications: Sequence[Notification]) -> EmailMultiAlternatives:
    """The day's notifications of one member in one email; its unsubscribe link stops every kind."""
    with translation.override(language_of(user)):
        items = [
            (notification_text(item, "subject"), notification_text(item, "body"), item.context.get("link", "/"))
            for item in notifications
        ]
        subject = translation.ngettext(
            "%(count)d update from your partner program", "%(count)d updates from your partner program", len(items)
        ) % {"count": len(items)}
        return _email(user=user, subject=subject, items=items, unsubscribe=unsubscribe_url(user=user, kind=ALL_KINDS))
