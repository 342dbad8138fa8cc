"""Badges and milestones: the rules a program offers, and each partner's awards (once per badge)."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from loyalty.tenancy.caching import TenancyCachedManager, TenancyCachedModel
from loyalty.tenancy.models import TenantOwnedModel


class Badge(TenancyCachedModel, TenantOwnedModel):
    """A milestone the program recognises: a rule, its threshold, and optional bonus points (through the ledger)."""

    cache_family = "badges"  # a partner's badges (badges.selectors.partner_badges)

    class Rule(models.TextChoices):
        DEALS_WON = "deals_won", _("Deal registrations won")
        CERTIFICATIONS = "certifications", _("Distinct certifications earned")
        MONTHS_IN_PROGRAM = "months_in_program", _("Months in the program")
        TIER_UPGRADES = "tier_upgrades", _("Tier upgrades")

    rule = models.CharField(max_length=32, choices=Rule.choices, verbose_name=_("rule"))
    threshold = models.PositiveIntegerField(
        default=1, help_text=_("How many (deals, certifications, months, upgrades)."), verbose_name=_("threshold")
    )
    bonus_points = models.PositiveIntegerField(
        default=0,
        help_text=_("Points credited once when a partner earns the badge (0: none)."),
        verbose_name=_("bonus points"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "rule", "threshold"], name="badge_one_per_rule_and_threshold"),
        ]

    def __str__(self) -> str:
        return f"{self.get_rule_display()} ≥ {self.threshold}"


class BadgeAward(TenancyCachedModel, TenantOwnedModel):
    """A partner earned a badge: at most once (the constraint), whoever awards it (nightly run or the trigger)."""

    cache_family = "badges"

    badge = models.ForeignKey(Badge, on_delete=models.PROTECT, related_name="awards", verbose_name=_("badge"))
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="badge_awards", verbose_name=_("partner")
    )
    awarded_at = models.DateTimeField(default=timezone.now, verbose_name=_("awarded at"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)

    class Meta:
        verbose_name = _("badge award")
        verbose_name_plural = _("badge awards")
        ordering = ["-awarded_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "badge", "partner"], name="badge_award_once_per_partner"),
        ]
        indexes = [models.Index(fields=["tenant", "partner", "awarded_at"], name="badge_award_partner_time")]
