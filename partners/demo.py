"""The partners app's share of the demo: applications to join in each state, one resembling an existing partner."""

from datetime import timedelta

from django.utils import timezone

from loyalty.tenancy.models import User
from partners.applications import website_domain
from partners.models import Partner, PartnerApplication, PartnerType


def seed_applications(*, partners: list[Partner], partner_type: PartnerType, reviewer: User, country: str) -> None:
    """A look-alike and a newcomer waiting, one turned down, one whose email is not confirmed (idempotent)."""
    now = timezone.now()
    look_alike = partners[1].name.upper() + " LTD"
    rows = [
        (look_alike, "https://www.second.example/", "ops@second.example", PartnerApplication.Status.PENDING, 9),
        (
            "Blue Harbor Integrators",
            "https://blueharbor.example/",
            "ines@blueharbor.example",
            PartnerApplication.Status.PENDING,
            2,
        ),
        (
            "Quick Resale Co",
            "https://quickresale.example/",
            "bob@quickresale.example",
            PartnerApplication.Status.REJECTED,
            20,
        ),
        (
            "Northwind Traders",
            "https://northwind.example/",
            "nora@northwind.example",
            PartnerApplication.Status.UNVERIFIED,
            1,
        ),
    ]
    for company, website, email, status, days_ago in rows:
        submitted = now - timedelta(days=days_ago)
        decided = status == PartnerApplication.Status.REJECTED
        PartnerApplication.objects.get_or_create(
            contact_email=email,
            defaults={
                "company_name": company,
                "website": website,
                "domain": website_domain(website),
                "country": country,
                "partner_type": partner_type,
                "contact_name": email.partition("@")[0].title(),
                "message": "We would like to resell your products in our region.",
                "terms_accepted_at": submitted,
                "submitted_at": submitted,
                "status": status,
                "verified_at": None if status == PartnerApplication.Status.UNVERIFIED else submitted,
                "reviewed_by": reviewer if decided else None,
                "reviewed_at": submitted + timedelta(days=2) if decided else None,
                "decision_reason": "Our distributor already covers your region." if decided else "",
            },
        )
