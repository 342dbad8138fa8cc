"""Engagement: the program's announcements to partners and its feedback surveys (NPS), each sent to a targeted
audience, with who received, read or answered what."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from loyalty.tenancy.caching import TenancyCachedManager, TenancyCachedModel
from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import TenantOwnedModel

NPS_MIN, NPS_MAX = 0, 10


def text_in(texts: dict, language: str | None = None) -> dict:
    """The texts (title, body, questions…) in `language` (default: the active one), else the first language that
    has them: every message is written at least in the program's language (issue 22)."""
    language = (language or get_language() or "").split("-")[0]
    if texts.get(language):
        return texts[language]
    return next((value for value in texts.values() if value), {})


class Targeted(TenantOwnedModel):
    """An audience: partners of these tiers, of these partner types and in these regions; an empty list is no limit
    (all lists empty: everyone). Only active partners' active members are reached."""

    tiers = models.ManyToManyField("tiers.Tier", blank=True, related_name="+", verbose_name=_("tiers"))
    partner_types = models.ManyToManyField(
        "partners.PartnerType", blank=True, related_name="+", verbose_name=_("partner types")
    )
    regions = models.JSONField(default=list, blank=True, verbose_name=_("regions"))
    texts = models.JSONField(
        default=dict, help_text=_("The texts in each of the program's languages."), verbose_name=_("texts")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))
    form_key = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("The staff form's key: a second submit creates nothing."),
        verbose_name=_("form key"),
    )

    class Meta:
        abstract = True

    def text(self, language: str | None = None) -> dict:
        return text_in(self.texts, language)


class Announcement(TenancyCachedModel, Targeted):
    """A message from the program (title, body, optional link), published to its audience at `publish_at`."""

    cache_family = "announcements"  # the banner of unread ones (engagement.selectors.announcements_banner)

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        PUBLISHED = "published", _("Published")
        CANCELLED = "cancelled", _("Cancelled")

    link = models.URLField(max_length=500, blank=True, verbose_name=_("link"))
    publish_at = models.DateTimeField(verbose_name=_("publish at"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED, verbose_name=_("status"))
    published_at = models.DateTimeField(null=True, blank=True, verbose_name=_("published at"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)

    class Meta:
        verbose_name = _("announcement")
        verbose_name_plural = _("announcements")
        ordering = ["-publish_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["tenant", "form_key"], name="announcement_form_key_once")]
        indexes = [models.Index(fields=["tenant", "status", "publish_at"], name="announcement_due")]

    def __str__(self) -> str:
        return self.text().get("title", "")


class AnnouncementDelivery(TenancyCachedModel, TenantOwnedModel):
    """One member's copy of an announcement, with the audience they were in when it was published (for the read
    counts per tier and partner type) and when they read it. Unique per member: nobody gets it twice."""

    cache_family = "announcements"

    announcement = models.ForeignKey(
        Announcement, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("announcement")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="+", verbose_name=_("partner")
    )
    tier = models.ForeignKey(
        "tiers.Tier", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("tier")
    )
    partner_type = models.ForeignKey(
        "partners.PartnerType", on_delete=models.PROTECT, related_name="+", verbose_name=_("partner type")
    )
    delivered_at = models.DateTimeField(default=timezone.now, verbose_name=_("delivered at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)

    class Meta:
        verbose_name = _("announcement delivery")
        verbose_name_plural = _("announcement deliveries")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "announcement", "user"], name="announcement_once_per_member")
        ]
        indexes = [models.Index(fields=["tenant", "user", "read_at"], name="announcement_inbox")]


class Survey(Targeted):
    """A feedback survey: the NPS question (0–10) and optional free-text questions, sent to its audience once per
    period (once, every quarter or every year) from `opens_at` until closed."""

    class Cadence(models.TextChoices):
        ONCE = "once", _("Once")
        QUARTERLY = "quarterly", _("Every quarter")
        YEARLY = "yearly", _("Every year")

    cadence = models.CharField(max_length=16, choices=Cadence.choices, default=Cadence.ONCE, verbose_name=_("cadence"))
    opens_at = models.DateTimeField(verbose_name=_("opens at"))
    is_open = models.BooleanField(
        default=True, help_text=_("Closed surveys are sent to nobody and take no answers."), verbose_name=_("is open")
    )

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["-opens_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["tenant", "form_key"], name="survey_form_key_once")]
        indexes = [models.Index(fields=["tenant", "is_open", "opens_at"], name="survey_due")]

    def __str__(self) -> str:
        return self.text().get("title", "")

    def questions(self) -> list[str]:
        """The optional questions in the reader's language, each falling back to the program language's wording."""
        main = self.texts.get(current_tenant().language) or self.text()
        own = self.text().get("questions") or []
        return [
            own[index] if index < len(own) and own[index] else question
            for index, question in enumerate(main.get("questions", []))
        ]

    def period_of(self, day) -> str:  # noqa: ANN001 - a date
        """The period a (local) day falls in: what 'once per period' counts by."""
        if self.cadence == self.Cadence.QUARTERLY:
            return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
        if self.cadence == self.Cadence.YEARLY:
            return str(day.year)
        return "once"


class SurveyResponse(TenantOwnedModel):
    """One member's invitation to a survey in one period, and their answer once given (score, comment, answers).

    Unique per (survey, period, member): invited once per period, and one answer, since answering fills the row
    only while it is still empty. The member's audience at sending time is kept for the figures by tier and type.
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses", verbose_name=_("survey"))
    period = models.CharField(max_length=16, verbose_name=_("period"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, related_name="+", verbose_name=_("partner")
    )
    tier = models.ForeignKey(
        "tiers.Tier", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("tier")
    )
    partner_type = models.ForeignKey(
        "partners.PartnerType", on_delete=models.PROTECT, related_name="+", verbose_name=_("partner type")
    )
    invited_at = models.DateTimeField(default=timezone.now, verbose_name=_("invited at"))
    answered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("answered at"))
    score = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=pgettext_lazy("model field", "score"))
    comment = models.TextField(blank=True, verbose_name=_("comment"))
    answers = models.JSONField(default=list, blank=True, verbose_name=_("answers"))

    class Meta:
        verbose_name = _("survey response")
        verbose_name_plural = _("survey responses")
        ordering = ["-invited_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "survey", "period", "user"], name="survey_once_per_period"),
            models.CheckConstraint(
                condition=Q(score__isnull=True, answered_at__isnull=True)
                | Q(score__gte=NPS_MIN, score__lte=NPS_MAX, answered_at__isnull=False),
                name="survey_score_with_answer",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "user", "answered_at"], name="survey_inbox")]

    def question_answers(self) -> list[tuple[str, str]]:
        """Each optional question (in the reader's language) with this member's answer ("" when left empty)."""
        return [
            (question, self.answers[index] if index < len(self.answers) else "")
            for index, question in enumerate(self.survey.questions())
        ]
