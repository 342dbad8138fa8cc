"""The account manager's worklist (sortable, filterable, CSV) and the staff page of one partner (notes, re-score)."""

from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from engagement.selectors import partner_feedback
from loyalty.exports import csv_download, csv_text
from loyalty.replica import reads_from_replica
from loyalty.tenancy.models import PROGRAM_ROLES, STAFF_ROLES, Membership, Role, User
from loyalty.tenancy.permissions import membership_required
from partners.models import Partner, PartnerType
from partners.selectors import partner_notes, partner_recent_activities, partners_visible_to
from partners.services import partner_note_create
from portal.charts import Chart, line
from portal.views import _dashboard
from tiers.models import PartnerScore, Tier, TierModel
from tiers.selectors import PartnerHealth, partner_health_list, partner_score_history, partner_tier_changes
from tiers.services import partner_rescore

PAGE_SIZE = 50
FEEDBACK_SHOWN = 10  # the latest survey answers on a partner's page
staff_required = membership_required(*sorted(STAFF_ROLES))

FLAGS = [
    ("near_upgrade", _("Near upgrade")),
    ("on_pace", _("On pace for upgrade")),
    ("at_risk", _("At risk")),
    ("rolloff_risk", _("At risk by roll-off")),
    ("dormant", _("Dormant")),
]
# The sortable columns: query value → the number it sorts by (missing values always sort last).
SORT_KEYS: dict[str, Callable[[PartnerHealth], object]] = {
    "name": lambda row: row.partner.name.casefold(),
    "tier": lambda row: row.tier.rank if row.tier else None,
    "score": lambda row: row.score,
    "trend": lambda row: row.trend,
    "to_next": lambda row: row.percent_to_next,
    "inactive": lambda row: row.days_since_activity,
    "expiring": lambda row: row.points_expiring,
}
COLUMN_LABELS = {
    "name": _("Partner"),
    "tier": _("Tier"),
    "score": _("Score"),
    "trend": _("Trend (3 mo)"),
    "to_next": _("To next tier"),
    "inactive": _("Inactive (days)"),
    "expiring": _("Expiring (90 d)"),
}
SORT_CHOICES = [
    choice
    for name, label in COLUMN_LABELS.items()
    for choice in ((name, format_lazy("{} ↑", label)), (f"-{name}", format_lazy("{} ↓", label)))
]


class WorklistForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    flag = forms.ChoiceField(label=_("Flag"), required=False, choices=[("", _("Any flag")), *FLAGS])
    tier = forms.ModelChoiceField(
        label=_("Tier"), required=False, queryset=Tier.objects.none(), empty_label=_("Any tier")
    )
    partner_type = forms.ModelChoiceField(
        label=_("Partner type"), required=False, queryset=PartnerType.objects.none(), empty_label=_("Any type")
    )
    account_manager = forms.ModelChoiceField(
        label=_("Account manager"), required=False, queryset=User.objects.none(), empty_label=_("Anyone")
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=SORT_CHOICES)

    def __init__(self, *args, membership: Membership, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tier"].queryset = Tier.objects.filter(model__status=TierModel.Status.ACTIVE).order_by("rank")
        self.fields["partner_type"].queryset = PartnerType.objects.order_by("name")
        if membership.role in PROGRAM_ROLES:
            self.fields["account_manager"].queryset = User.objects.filter(
                memberships__tenant_id=membership.tenant_id,
                memberships__role=Role.ACCOUNT_MANAGER,
                memberships__is_active=True,
            ).order_by("email")
        else:
            del self.fields["account_manager"]  # an account manager sees only their own partners anyway


def _filtered(request: HttpRequest, form: WorklistForm) -> list[PartnerHealth]:
    """The member's partners narrowed by the form, with their health, flagged and sorted as asked."""
    data = form.cleaned_data
    partners: QuerySet[Partner] = partners_visible_to(request.membership)
    if data.get("q"):
        partners = partners.filter(Q(name__icontains=data["q"]) | Q(external_id__icontains=data["q"]))
    if data.get("tier"):
        partners = partners.filter(tier_states__tier=data["tier"])
    if data.get("partner_type"):
        partners = partners.filter(partner_type=data["partner_type"])
    if data.get("account_manager"):
        partners = partners.filter(account_manager=data["account_manager"])
    rows = partner_health_list(partners=partners)
    if data.get("flag"):
        rows = [row for row in rows if data["flag"] in row.flags]
    return _sorted(rows, data.get("sort") or "name")


def _sorted(rows: list[PartnerHealth], sort: str) -> list[PartnerHealth]:
    descending = sort.startswith("-")
    key = SORT_KEYS[sort.lstrip("-")]
    present = [row for row in rows if key(row) is not None]
    missing = [row for row in rows if key(row) is None]
    return sorted(present, key=key, reverse=descending) + missing  # sorted() keeps the name order among equals


def _columns(current: str) -> list[dict]:
    """The sortable headers: each links to its ascending sort, or descending when already ascending."""
    return [
        {
            "label": label,
            "next_sort": f"-{name}" if current == name else name,
            "aria_sort": {name: "ascending", f"-{name}": "descending"}.get(current),
        }
        for name, label in COLUMN_LABELS.items()
    ]


@staff_required
@reads_from_replica
def worklist(request: HttpRequest) -> HttpResponse:
    """The partners this member looks after, with their flags; 50 a page."""
    form = WorklistForm(request.GET, membership=request.membership)
    rows, page, status = [], None, 400
    if form.is_valid():
        rows, status = _filtered(request, form), 200
        page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    sort = (form.cleaned_data.get("sort") if form.is_valid() else "") or "name"
    context = {"form": form, "page": page, "total": len(rows), "sort": sort, "columns": _columns(sort)}
    return render(request, "portal/portfolio/worklist.html", context, status=status)


# Headers and yes/no in the reader's language, like the values (risks, tiers) beside them: a sheet for people.
CSV_COLUMNS = [
    _("Partner"),
    _("External id"),
    _("Partner type"),
    _("Account manager"),
    _("Tier"),
    _("Score"),
    _("Score 3 months ago"),
    _("% to the next tier"),
    _("Next tier"),
    _("Days since the last activity"),
    _("Points expiring in 90 days"),
    _("Near an upgrade"),
    _("At risk"),
    _("At risk because"),
    _("Dormant"),
    _("Blocked by"),
    _("On pace for an upgrade"),
    _("At risk by roll-off"),
]


def _yes_no(flag: bool) -> str:
    return gettext("yes") if flag else gettext("no")


def _csv_row(row: PartnerHealth) -> list[object]:
    partner = row.partner
    return [
        partner.name,
        partner.external_id,
        partner.partner_type.name,
        partner.account_manager.email if partner.account_manager else "",
        row.tier.i18n.name if row.tier else "",
        row.score if row.score is not None else "",
        row.score_before if row.score_before is not None else "",
        row.percent_to_next if row.percent_to_next is not None else "",
        row.next_tier.i18n.name if row.next_tier else "",
        row.days_since_activity if row.days_since_activity is not None else "",
        row.points_expiring,
        _yes_no(row.near_upgrade),
        _yes_no(row.at_risk),
        "; ".join(str(risk) for risk in row.risks),
        _yes_no(row.dormant),
        "; ".join(row.blocked_by),
        _yes_no(row.on_pace_for_upgrade),
        _yes_no(row.at_risk_by_rolloff),
    ]


@staff_required
@reads_from_replica
def worklist_csv(request: HttpRequest) -> HttpResponse:
    """The worklist with the same filters and sort, every row, as a CSV download (formula cells neutralised)."""
    form = WorklistForm(request.GET, membership=request.membership)
    if not form.is_valid():
        context = {"form": form, "page": None, "total": 0, "sort": "name", "columns": _columns("name")}
        return render(request, "portal/portfolio/worklist.html", context, status=400)
    rows = (_csv_row(row) for row in _filtered(request, form))
    return csv_download(csv_text(CSV_COLUMNS, rows), filename=f"portfolio-{timezone.localdate().isoformat()}.csv")


class NoteForm(forms.Form):
    body = forms.CharField(label=_("New note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)


def _visible_partner(request: HttpRequest, partner_id: int) -> Partner:
    """A partner this member may see; any other (another's portfolio, another tenant's) is a 404."""
    return get_object_or_404(
        partners_visible_to(request.membership).select_related("partner_type", "account_manager"), pk=partner_id
    )


def _history_chart(scores: list[PartnerScore]) -> Chart:
    """The stored scores, oldest first, as a line on a 0–100 scale."""
    ordered = list(reversed(scores))
    return line(
        [(date_format(score.evaluated_on, "d M"), score.score) for score in ordered],
        width=720,
        height=160,
        maximum=Decimal(100),
    )


def _partner_page(request: HttpRequest, partner: Partner, note_form: NoteForm, status: int = 200) -> HttpResponse:
    scores = partner_score_history(partner=partner)
    context = _dashboard(partner, currency=request.tenant.currency) | {
        "scores": scores,
        "history_chart": _history_chart(scores) if len(scores) > 1 else None,
        "changes": partner_tier_changes(partner=partner),
        "activities": partner_recent_activities(partner=partner),
        "notes": partner_notes(partner=partner),
        "note_form": note_form,
        "feedback": list(partner_feedback(partner=partner)[:FEEDBACK_SHOWN]),
    }
    return render(request, "portal/portfolio/partner.html", context, status=status)


@staff_required
def partner_detail(request: HttpRequest, partner_id: int) -> HttpResponse:
    """What the partner sees, plus its score history, tier changes, recent activities and staff notes."""
    return _partner_page(request, _visible_partner(request, partner_id), NoteForm())


@require_POST
@staff_required
def note_add(request: HttpRequest, partner_id: int) -> HttpResponse:
    partner = _visible_partner(request, partner_id)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            partner_note_create(partner=partner, author=request.user, body=form.cleaned_data["body"])
        except ValidationError as error:
            form.add_error(None, error)
    if not form.is_valid():
        return _partner_page(request, partner, form, status=400)
    messages.success(request, gettext("Note added."))
    return redirect("portal:portfolio_partner", partner_id=partner.pk)


@require_POST
@staff_required
def rescore(request: HttpRequest, partner_id: int) -> HttpResponse:
    """Score the partner now with the model in force (an instant score: upgrades apply, downgrades wait)."""
    partner = _visible_partner(request, partner_id)
    if partner.status != Partner.Status.ACTIVE:
        messages.error(request, gettext("Only active partners are scored."))
        return redirect("portal:portfolio_partner", partner_id=partner.pk)
    score = partner_rescore(partner=partner)
    if score is None:
        messages.error(request, gettext("No tier model is in force today: there is nothing to score against."))
    else:
        tier = score.tier.i18n.name if score.tier else gettext("no tier")
        messages.success(
            request,
            gettext("Re-scored now: %(score)s (%(tier)s).") % {"score": score.score, "tier": tier},
        )
    return redirect("portal:portfolio_partner", partner_id=partner.pk)
