"""Demo pipeline: the demo partner's registrations in every status, and another partner's that conflicts with one."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from deals.models import DealRegistration
from deals.services import (
    deal_approve,
    deal_extend,
    deal_mark_lost,
    deal_mark_won,
    deal_register,
    deal_reject,
    deals_expire,
)
from loyalty.tenancy.models import User
from partners.models import Partner

# customer, domain, country, amount, days to close, what becomes of it
PIPELINE = (
    ("Contoso Retail Group", "contoso.example", "US", "84000", 75, "approved"),
    ("Fabrikam Logistics", "fabrikam.example", "CA", "36500", 40, "extended"),
    ("Tailspin Airlines", "tailspin.example", "US", "128000", 90, "submitted"),
    ("Wide World Importers Ltd", "wideworld.example", "GB", "22000", 30, "won"),
    ("Litware Inc.", "litware.example", "US", "15500", 20, "lost"),
    ("Proseware", "proseware.example", "MX", "9800", 25, "rejected"),
    ("Adventure Works Cycles", "adventure-works.example", "US", "47000", 60, "expired"),
    ("Northwind Traders", "northwindtraders.example", "US", "12000", 50, "draft"),
)


def seed_deals(*, partners: list[Partner], member: User, manager: User) -> None:
    """Idempotent: a program that has demo registrations keeps them."""
    if DealRegistration.objects.filter(external_id__startswith="demo:").exists():
        return
    today = timezone.localdate()
    for index, (customer, domain, country, amount, days, outcome) in enumerate(PIPELINE):
        deal = deal_register(
            partner=partners[0],
            registered_by=member,
            customer_name=customer,
            customer_domain=domain,
            customer_country=country,
            contact_name="Jordan Buyer",
            contact_email=f"jordan@{domain}",
            products="switches, wireless",
            amount=Decimal(amount),
            currency="USD",
            expected_close=today + timedelta(days=days),
            notes="Met the IT director; budget approved for next quarter.",
            external_id=f"demo:{index}",
            submit=outcome != "draft",
        )
        if outcome in ("approved", "extended", "won", "lost", "expired"):
            deal = deal_approve(deal=deal, actor=manager)
        if outcome == "extended":
            deal_extend(deal=deal, actor=member, reason="The customer's board meets after the holidays.")
        elif outcome == "won":
            deal_mark_won(deal=deal, actor=manager, reason="Purchase order confirmed by the CRM.")
        elif outcome == "lost":
            deal_mark_lost(deal=deal, actor=member, reason="The customer chose to keep its current supplier.")
        elif outcome == "rejected":
            deal_reject(deal=deal, actor=manager, reason="Proseware buys directly from the vendor.")
        elif outcome == "expired":
            DealRegistration.objects.filter(pk=deal.pk).update(protected_until=today - timedelta(days=1))
    deals_expire()
    # Another partner registers the demo partner's protected customer under another spelling: the conflict.
    deal_register(
        partner=partners[1],
        registered_by=None,
        customer_name="CONTOSO RETAIL GROUP, INC.",
        customer_domain="www.contoso.example",
        customer_country="US",
        amount=Decimal(79000),
        currency="USD",
        expected_close=today + timedelta(days=80),
        external_id="demo:conflict",
    )
