"""Notifications to members (in the portal and by email), deduplicated, and each member's preferences: partner
members hear about their company; program staff hear about what waits for their review."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from loyalty.tenancy.caching import TenancyCachedManager, TenancyCachedModel
from loyalty.tenancy.models import TenantOwnedModel


class Kind(models.TextChoices):
    TIER_UPGRADED = "tier_upgraded", _("Tier upgraded")
    TIER_DOWNGRADED = "tier_downgraded", _("Tier downgraded")
    GRACE_WARNING = "grace_warning", _("Tier at risk (grace period)")
    NEAR_NEXT_TIER = "near_next_tier", _("Close to the next tier")
    POINTS_EXPIRING = "points_expiring", _("Points about to expire")
    CLAIM_REVIEWED = "claim_reviewed", _("Claim approved or rejected")
    REDEMPTION_STATUS = "redemption_status", _("Redemption status")
    MONTHLY_STATEMENT = "monthly_statement", _("Monthly statement")
    CLAIM_TO_REVIEW = "claim_to_review", _("Claims waiting for review")
    REDEMPTION_TO_REVIEW = "redemption_to_review", _("Redemptions waiting for approval")
    FUND_DECISION = "fund_decision", _("Fund requests and claims decided")
    DEAL_STATUS = "deal_status", _("Deal registrations approved, rejected or expired")
    DEAL_TO_REVIEW = "deal_to_review", _("Deal registrations waiting for review")
    DEAL_PROTECTION_ENDING = "deal_protection_ending", _("Deal protection about to end")
    ANNOUNCEMENT = "announcement", _("Announcements from the program")
    SURVEY = "survey", _("Surveys from the program")


# What program staff are told (about a partner's request waiting for them); every other kind goes to partner members.
STAFF_KINDS = frozenset({Kind.CLAIM_TO_REVIEW, Kind.REDEMPTION_TO_REVIEW, Kind.DEAL_TO_REVIEW})


def kinds_for(*, is_partner_member: bool) -> list[tuple[str, str]]:
    """The kinds a member can receive, as choices: a partner member's or a staff member's."""
    return [(value, label) for value, label in Kind.choices if (value in STAFF_KINDS) != is_partner_member]


class Notification(TenancyCachedModel, TenantOwnedModel):
    """One message to one member about one subject. Unique per (recipient, kind, subject, period), so a
    re-run of whatever raised it (the nightly evaluation, a retried task) never tells anyone twice."""

    cache_family = "notifications"  # the header's unread count (notifications.selectors.notifications_unread_count)

    class Email(models.TextChoices):
        PENDING = "pending", _("To send")
        SENT = "sent", _("Sent")
        DIGEST = "digest", _("Waits for the digest")
        SKIPPED = "skipped", _("Not emailed (preference)")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("recipient")
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="notifications", verbose_name=_("partner")
    )
    kind = models.CharField(max_length=32, choices=Kind.choices, verbose_name=_("kind"))
    subject = models.CharField(
        max_length=100, help_text=_("What it is about, e.g. claim:42."), verbose_name=_("subject")
    )
    period = models.CharField(
        max_length=32, blank=True, help_text=_("When it applies, e.g. 2026-11."), verbose_name=_("period")
    )
    context = models.JSONField(default=dict, blank=True, verbose_name=_("context"))
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))
    email = models.CharField(max_length=16, choices=Email.choices, default=Email.PENDING, verbose_name=_("email"))
    emailed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("emailed at"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "recipient", "kind", "subject", "period"], name="notification_once_per_subject"
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "recipient", "read_at"], name="notification_inbox"),
            models.Index(fields=["tenant", "email", "recipient"], name="notification_email_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient}"


class Preference(TenantOwnedModel):
    """A member's email choices in one program: kinds not to email, and whether to get one daily digest instead."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    muted_kinds = models.JSONField(
        default=list, blank=True, help_text=_("Kinds never emailed."), verbose_name=_("muted kinds")
    )
    digest = models.BooleanField(
        default=False, help_text=_("One email a day with everything new."), verbose_name=_("digest")
    )

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="notification_preference_per_user")]

    def __str__(self) -> str:
        return f"Notification preferences of {self.user}"

    def emails(self, kind: str) -> bool:
        return kind not in self.muted_kinds
