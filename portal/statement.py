"""The partner statement: ledger entries with their causes in words, filters, pagination and CSV export."""

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django import forms
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.utils.formats import date_format, number_format
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.exports import csv_download, csv_line
from loyalty.inputs import ReaderDateInput
from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount
from loyalty.ledger.selectors import POINTS_VERSION_FIELDS, partner_statement_entries, statement_approvals_attach
from loyalty.ledger.wording import signed_points
from loyalty.reasons import memo_shown
from loyalty.tenancy.caching import prefetch
from loyalty.tenancy.context import current_tenant, tenant_context
from loyalty.tenancy.models import Role, Tenant
from loyalty.tenancy.permissions import membership_required
from loyalty.translations import content_version_key
from notifications.selectors import notifications_unread_entry
from partners.models import Activity
from portal.fragments import PAGE_SECONDS, Fragments, member_page_setting, sql_columns

PAGE_SIZE = 50
CSV_CHUNK_SIZE = 2000
# Headings in the reader's language, like the values under them; sorted by "posted", "dated" is the day the entry
# is about (an activity's date) when it differs.
CSV_COLUMNS = [_("Posted"), _("Dated"), _("Kind"), _("Points"), _("Balance"), _("Cause")]


class StatementFilterForm(forms.Form):
    date_from = forms.DateField(label=_("From"), required=False, widget=ReaderDateInput())
    date_to = forms.DateField(label=_("To"), required=False, widget=ReaderDateInput())
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds")), *EntryKind.choices])

    def clean(self) -> dict:
        cleaned = super().clean()
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs |= {"aria-invalid": "true", "aria-describedby": f"id_{name}-error"}


def _start_of(day: date) -> datetime:
    """Midnight of `day` in the current (the tenant's) time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _filtered_entries(request: HttpRequest, form: StatementFilterForm) -> QuerySet[LedgerEntry]:
    date_from, date_to = form.cleaned_data.get("date_from"), form.cleaned_data.get("date_to")
    return partner_statement_entries(
        partner_id=request.membership.partner_id,
        effective_from=_start_of(date_from) if date_from else None,
        effective_before=_start_of(date_to + timedelta(days=1)) if date_to else None,
        kind=form.cleaned_data.get("kind") or "",
    )


def _activity_words(activity: Activity) -> str:
    parts = [activity.get_kind_display()]
    parts += [value for value in (activity.code, activity.product_sku) if value]
    if activity.amount is not None:
        amount = number_format(activity.amount, decimal_pos=2, use_l10n=True, force_grouping=True)
        parts.append(f"{amount} {activity.currency}".strip())
        program = current_tenant().currency
        if activity.currency != program and activity.amount_converted is not None:
            # The original amount, then what it counted for in the program's currency at the rate of its day.
            value = number_format(activity.amount_converted, decimal_pos=2, use_l10n=True, force_grouping=True)
            parts[-1] = gettext("%(original)s (%(converted)s at %(rate)s)") % {
                "original": parts[-1],
                "converted": f"{value} {program}",
                "rate": number_format(activity.exchange_rate.normalize(), use_l10n=True),
            }
    return " · ".join(parts)


def _earning_words(entry: LedgerEntry) -> str:
    if entry.activity is None:
        return memo_shown(entry.memo)
    words = _activity_words(entry.activity)
    if entry.earning_rule is not None:
        return gettext("%(activity)s (rule: %(rule)s)") % {"activity": words, "rule": entry.earning_rule.i18n.name}
    return words


def _redemption_words(entry: LedgerEntry) -> str:
    redemption = entry.redemption
    return gettext("%(reward)s × %(quantity)s") % {
        "reward": redemption.reward.i18n.name,
        "quantity": redemption.quantity,
    }


def entry_cause(entry: LedgerEntry) -> str:
    """Why the entry exists, in words a partner understands."""
    match entry.kind:
        case EntryKind.EARN:
            return _earning_words(entry)
        case EntryKind.REDEEM if entry.redemption is not None:
            return gettext("Redeemed %(redemption)s") % {"redemption": _redemption_words(entry)}
        case EntryKind.REFUND if entry.redemption is not None:
            cause = gettext("Refund of %(redemption)s") % {"redemption": _redemption_words(entry)}
            return f"{cause}: {memo_shown(entry.memo)}" if entry.memo else cause
        case EntryKind.EXPIRE if entry.expired_lot is not None:
            earned_on = date_format(timezone.localtime(entry.expired_lot.earned_at), "DATE_FORMAT")
            return gettext("Points earned on %(date)s expired") % {"date": earned_on}
        case EntryKind.ADJUST:
            who = str(entry.actor) if entry.actor is not None else gettext("the program team")
            approval = getattr(entry, "adjustment_request", None)  # a large adjustment, approved by a second person
            if approval is not None and approval.decided_by is not None:
                return gettext("%(reason)s (adjusted by %(who)s, approved by %(approver)s)") % {
                    "reason": memo_shown(entry.memo),
                    "who": who,
                    "approver": approval.decided_by,
                }
            return gettext("%(reason)s (adjusted by %(who)s)") % {"reason": memo_shown(entry.memo), "who": who}
        case EntryKind.REVERSE if entry.reverses is not None:
            original = entry.reverses
            of_what = _earning_words(original) if original.kind == EntryKind.EARN else entry_cause(original)
            cause = gettext("Reversal of %(kind)s of %(date)s: %(what)s") % {
                "kind": original.get_kind_display().lower(),
                "date": date_format(timezone.localtime(original.effective_at), "DATE_FORMAT"),
                "what": of_what,
            }
            return f"{cause} ({memo_shown(entry.memo)})" if entry.memo else cause
    return memo_shown(entry.memo)


def _page_of(entries: QuerySet[LedgerEntry], number: str | None) -> Page:
    """The asked page of entries with their adjustments' approvals. The first page (the one nearly everybody asks)
    is read first: when it is not full it holds every entry, so the paginator counts it without a count query."""
    if number in (None, "", "1"):
        first = list(entries[: PAGE_SIZE + 1])
        if len(first) <= PAGE_SIZE:
            page = Paginator(first, PAGE_SIZE).page(1)
        else:
            page = Page(first[:PAGE_SIZE], 1, Paginator(entries, PAGE_SIZE))
    else:
        page = Paginator(entries, PAGE_SIZE).get_page(number)
        page.object_list = list(page.object_list)
    statement_approvals_attach(page.object_list)
    return page


def _account_version(partner_id: int) -> str:
    """The version of the partner's entries (`POINTS_VERSION_FIELDS`: the chain head names the last posting), in one
    query of plain SQL: entries are only ever appended, each moving the chain head."""
    columns = sql_columns(PointsAccount, POINTS_VERSION_FIELDS)
    sql = f"SELECT {columns} FROM {PointsAccount._meta.db_table} WHERE partner_id = %s"  # noqa: S608 - the model's names
    with connection.cursor() as cursor:
        cursor.execute(sql, [partner_id])
        row = cursor.fetchone()
    return ".".join("" if value is None else str(value) for value in row or ())


@membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)
def statement(request: HttpRequest) -> HttpResponse:
    """The partner's own ledger entries, newest first, 50 a page. Unfiltered, the first page is one fragment kept
    under the account's version and `member_page_setting`: a warm page is one query and one cache read."""
    partner = request.membership.partner
    found = prefetch([notifications_unread_entry(user=request.user)], keys=[content_version_key(request.tenant.pk)])
    setting = None if request.GET else member_page_setting(request, found=found)
    whole = None if setting is None else f"{setting}.{_account_version(partner.pk)}"
    form = StatementFilterForm(request.GET)  # every field is optional: no parameters, no filters

    def page_and_rows() -> tuple[Page | None, list[dict]]:
        page = None
        if form.is_valid():
            page = _page_of(_filtered_entries(request, form), request.GET.get("page"))
        rows = [
            {"entry": entry, "points": signed_points(entry.points), "cause": entry_cause(entry)}
            for entry in (page if page is not None else [])
        ]
        return page, rows

    page_rows = SimpleLazyObject(page_and_rows)  # read only when the fragment is rendered
    context = {
        "form": form,
        "is_valid": form.is_valid(),
        "page": SimpleLazyObject(lambda: page_rows[0]),
        "rows": SimpleLazyObject(lambda: page_rows[1]),
        "partner": partner,
        "page_fragment": Fragments(page=f"statement.{partner.pk}", versions={"entries": (whole, PAGE_SECONDS)}),
    }
    return render(request, "portal/statement.html", context, status=200 if form.is_valid() else 400)


def _csv_line(entry: LedgerEntry) -> str:
    posted = timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M")
    dated = timezone.localtime(entry.effective_at).strftime("%Y-%m-%d %H:%M")
    cells = [posted, dated, entry.get_kind_display(), entry.points, entry.balance_after, entry_cause(entry)]
    return csv_line(cells)


def _csv_lines(tenant: Tenant, entries: QuerySet[LedgerEntry], language: str) -> Iterator[str]:
    """The CSV, a chunk of entries at a time.

    The response streams after the middleware has left the tenant's scope and the reader's language, so each
    chunk enters both again; chunks are fetched by keyset (created_at, pk) so no cursor stays open between yields.
    """
    with translation.override(language):
        yield csv_line(CSV_COLUMNS)
    last = None
    while True:
        with tenant_context(tenant), translation.override(language):
            chunk = entries
            if last is not None:
                chunk = chunk.filter(Q(created_at__lt=last.created_at) | Q(created_at=last.created_at, pk__lt=last.pk))
            batch = statement_approvals_attach(list(chunk[:CSV_CHUNK_SIZE]))
            lines = "".join(_csv_line(entry) for entry in batch)
        if lines:
            yield lines
        if len(batch) < CSV_CHUNK_SIZE:
            return
        last = batch[-1]


def _filename_part(value: str) -> str:
    """Only characters that are safe in a Content-Disposition filename."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", value).strip("-") or "partner"


@membership_required(Role.PARTNER_USER, Role.PARTNER_ADMIN)
def statement_csv(request: HttpRequest) -> HttpResponse:
    """The same filtered entries as the page, all of them, as a streamed CSV download."""
    form = StatementFilterForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "portal/statement.html",
            {"form": form, "is_valid": False, "page": None, "rows": [], "partner": request.membership.partner},
            status=400,
        )
    partner = request.membership.partner
    filename = f"statement-{_filename_part(partner.external_id)}-{timezone.localdate().isoformat()}.csv"
    lines = _csv_lines(request.tenant, _filtered_entries(request, form), translation.get_language())
    return csv_download(lines, filename=filename)
