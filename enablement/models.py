"""Enablement: a library of resources and courses gated by tier and partner type, and the onboarding checklist."""

import uuid
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_scopes import ScopedManager

from loyalty.tenancy.caching import TenancyCachedManager, TenancyCachedModel
from loyalty.tenancy.models import TenantOwnedModel
from partners.models import Activity, Partner, PartnerType


def resource_path(instance: object, filename: str) -> str:
    """enablement/<tenant id>/<random>.<ext>: no user-chosen names on disk, outside the web root like evidence."""
    return f"enablement/{instance.tenant_id}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()}"


class Gated(TenantOwnedModel):
    """Who may open an item: partners of these types (none chosen: every type) at this tier or above."""

    minimum_tier_rank = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("Rank of the lowest tier that may open it (1 = entry tier). Empty: anyone."),
        verbose_name=_("minimum tier rank"),
    )
    partner_types = models.ManyToManyField(
        PartnerType,
        blank=True,
        related_name="+",
        help_text=_("Leave empty for every partner type."),
        verbose_name=_("partner types"),
    )
    is_published = models.BooleanField(
        default=True, help_text=_("Unpublished items are hidden from partners."), verbose_name=_("is published")
    )
    position = models.PositiveSmallIntegerField(
        default=0, help_text=_("Lower numbers are listed first."), verbose_name=_("position")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, verbose_name=_("created at"))

    class Meta:
        abstract = True


class Resource(Gated):
    """A file (scanned on upload, served only to entitled partners) or a link: sales decks, price lists, guides."""

    title = models.CharField(max_length=200, verbose_name=_("title"))
    description = models.TextField(blank=True, max_length=2000, verbose_name=_("description"))
    file = models.FileField(
        upload_to=resource_path, blank=True, max_length=200, help_text=_("A PDF, PNG or JPEG."), verbose_name=_("file")
    )
    file_name = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text=_("The uploaded file's name."),
        verbose_name=_("file name"),
    )
    url = models.URLField(_("link"), blank=True, max_length=500, help_text=_("Or a link to the resource elsewhere."))

    class Meta:
        verbose_name = _("resource")
        verbose_name_plural = _("resources")
        ordering = ["position", "title", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(file="") & ~Q(url="")) | (~Q(file="") & Q(url="")),
                name="resource_file_or_link",
                violation_error_message=_("Give either a file or a link, not both."),
            )
        ]
        indexes = [models.Index(fields=["tenant", "is_published"], name="resource_tenant_published")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_file(self) -> bool:
        return bool(self.file)


class Course(Gated):
    """A course: material to study (a link), an optional quiz; completing it records one training activity."""

    code = models.SlugField(
        max_length=100,
        help_text=_("The course id: recorded as the training activity's code (earning rules, tiers)."),
        verbose_name=_("code"),
    )
    title = models.CharField(max_length=200, verbose_name=_("title"))
    description = models.TextField(blank=True, max_length=4000, verbose_name=_("description"))
    material_url = models.URLField(_("material link"), blank=True, max_length=500)
    pass_percent = models.PositiveSmallIntegerField(
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("Share of quiz answers that must be right to pass (a course without questions is completed)."),
        verbose_name=_("pass percent"),
    )

    class Meta:
        verbose_name = _("course")
        verbose_name_plural = _("courses")
        ordering = ["position", "title", "pk"]
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="course_code_unique_per_tenant")]

    def __str__(self) -> str:
        return self.title


class QuizQuestion(TenantOwnedModel):
    """A multiple-choice question of a course's quiz: the choices one per line, the right one by its number."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="questions", verbose_name=_("course"))
    prompt = models.CharField(max_length=500, verbose_name=_("prompt"))
    choices = models.TextField(help_text=_("One choice per line (2 to 8)."), max_length=2000, verbose_name=_("choices"))
    correct_choice = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1)],
        help_text=_("The number of the right choice (1 = first line)."),
        verbose_name=_("correct choice"),
    )
    position = models.PositiveSmallIntegerField(default=0, verbose_name=_("position"))

    class Meta:
        verbose_name = _("quiz question")
        verbose_name_plural = _("quiz questions")
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["tenant", "course"], name="quiz_question_course")]

    def __str__(self) -> str:
        return self.prompt

    @property
    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]

    def clean(self) -> None:
        count = len(self.choice_list)
        if not 2 <= count <= 8:
            raise ValidationError({"choices": _("Give 2 to 8 choices, one per line.")})
        if self.correct_choice is not None and not 1 <= self.correct_choice <= count:
            raise ValidationError(
                {"correct_choice": _("Give the number of one of the choices (1 to %(count)s).") % {"count": count}}
            )


class CourseCompletion(TenantOwnedModel):
    """A member completed (or passed) a course, once: the training activity it recorded is linked here."""

    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="completions", verbose_name=_("course"))
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("partner"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("user")
    )
    completed_at = models.DateTimeField(default=timezone.now, verbose_name=_("completed at"))
    score_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("The quiz result, if any."), verbose_name=_("score percent")
    )
    activity = models.ForeignKey(
        Activity, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("activity")
    )

    class Meta:
        verbose_name = _("course completion")
        verbose_name_plural = _("course completions")
        ordering = ["-completed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "course", "user"], name="course_completion_once_per_member")
        ]
        indexes = [models.Index(fields=["tenant", "partner"], name="course_completion_partner")]

    def __str__(self) -> str:
        return f"{self.course} by {self.user}"

    @property
    def activity_external_id(self) -> str:
        """The training activity's id in ingestion: one per course and member, whoever records it and how often."""
        return f"course:{self.course_id}:member:{self.user_id}"


class PartnerProfile(TenantOwnedModel):
    """What a partner says about itself (the onboarding's first step): website, phone, what it does."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+", verbose_name=_("partner"))
    website = models.URLField(_("website"), max_length=200)
    phone = models.CharField(_("phone"), max_length=40)
    description = models.TextField(_("what your company does"), max_length=1000)
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=_("updated at"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("partner profile")
        verbose_name_plural = _("partner profiles")
        constraints = [models.UniqueConstraint(fields=["tenant", "partner"], name="partner_profile_one_per_partner")]

    def __str__(self) -> str:
        return f"Profile of {self.partner}"


class OnboardingStep(models.TextChoices):
    PROFILE = "profile", _("Complete your company profile")
    INVITE = "invite", _("Invite a colleague")
    TRAINING = "training", _("Complete your first training")
    DEAL = "deal", _("Register your first deal")


class Onboarding(TenancyCachedModel, TenantOwnedModel):
    """The program's onboarding checklist: which steps it asks of new partners, for how long, and its welcome.

    Read on every partner's dashboard, so cached with the tenancy cache (loyalty/tenancy/caching.py): a write
    replaces its generation."""

    is_active = models.BooleanField(
        default=True, help_text=_("Show the checklist to new partners."), verbose_name=_("is active")
    )
    steps = models.JSONField(
        default=list, blank=True, help_text=_("The steps asked, in order."), verbose_name=_("steps")
    )
    window_days = models.PositiveSmallIntegerField(
        default=365,
        validators=[MinValueValidator(1)],
        help_text=_("Partners who joined within this many days see the checklist until it is done."),
        verbose_name=_("window days"),
    )

    objects = ScopedManager(tenant="tenant", _manager_class=TenancyCachedManager)
    all_tenants = TenancyCachedManager()  # noqa: DJ012 - a second manager, not a field

    class Meta:
        verbose_name = _("onboarding checklist")
        verbose_name_plural = _("onboarding checklists")
        constraints = [models.UniqueConstraint(fields=["tenant"], name="onboarding_one_per_tenant")]

    def __str__(self) -> str:
        return str(_("Onboarding checklist"))


class WelcomeText(TenantOwnedModel):
    """The program's own welcome at the top of the checklist, one per language."""

    onboarding = models.ForeignKey(
        Onboarding, on_delete=models.CASCADE, related_name="welcome_texts", verbose_name=_("onboarding")
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, verbose_name=_("language"))
    text = models.TextField(max_length=2000, verbose_name=_("text"))

    class Meta:
        verbose_name = _("welcome text")
        verbose_name_plural = _("welcome texts")
        constraints = [
            models.UniqueConstraint(fields=["tenant", "onboarding", "language"], name="welcome_text_one_per_language")
        ]

    def __str__(self) -> str:
        return self.get_language_display()
