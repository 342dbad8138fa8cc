"""CSV registration of deals: a partner's export from its CRM, checked whole first, then registered row by row."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _
from django_countries import countries

from deals.models import DealRegistration
from deals.services import deal_fields_clean, deal_register
from imports.services import FIRST_DATA_ROW, header_problems
from loyalty.exports import csv_text
from loyalty.inputs import has_nul, nul_message
from loyalty.tenancy.models import User
from loyalty.uploads import CSV_TEXT, upload_scan
from partners.models import Partner

DEAL_COLUMNS = (
    "external_id",
    "customer_name",
    "customer_domain",
    "customer_country",
    "customer_tax_id",
    "contact_name",
    "contact_email",
    "products",
    "amount",
    "currency",
    "expected_close",
    "notes",
)
REQUIRED_COLUMNS = ("external_id", "customer_name", "amount", "currency", "expected_close")
MAX_ROWS = 500
TEXT_LIMITS = {"external_id": 200, "contact_name": 200, "products": 500, "notes": 4000, "customer_country": 2}
TEMPLATE_ROWS = [
    {
        "external_id": "OPP-2027-0042",
        "customer_name": "Contoso Retail Group",
        "customer_domain": "contoso.example",
        "customer_country": "US",
        "contact_name": "Dana Reyes",
        "contact_email": "dana@contoso.example",
        "products": "Switches; support",
        "amount": "48000.00",
        "currency": "USD",
        "expected_close": "2027-03-31",
        "notes": "Replaces their 2019 network",
    }
]


@dataclass
class DealRow:
    """One data row: its number as a spreadsheet counts it, its cells, and what is wrong with them."""

    number: int
    cells: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def deals_csv_template() -> str:
    """The columns with an example row, for partners to fill in from their CRM."""
    return csv_text(DEAL_COLUMNS, ([row.get(column, "") for column in DEAL_COLUMNS] for row in TEMPLATE_ROWS))


def _row_check(row: DealRow) -> None:
    cells = row.cells
    for name, value in cells.items():
        if name == "(extra cells)":
            row.errors[name] = _("This row has more cells than the header.")
        elif has_nul(value):
            row.errors[name] = nul_message()
        elif len(value) > TEXT_LIMITS.get(name, 254):
            row.errors[name] = _("At most %(count)s characters.") % {"count": TEXT_LIMITS.get(name, 254)}
    if not cells.get("external_id", "").strip():
        row.errors.setdefault("external_id", _("Give the opportunity's id in your CRM: it makes a re-upload safe."))
    country = cells.get("customer_country", "").strip().upper()
    if country and country not in dict(countries):
        row.errors.setdefault("customer_country", _("Give the country as a two-letter code (e.g. US)."))
    try:
        expected_close = date.fromisoformat(cells.get("expected_close", "").strip())
    except ValueError:
        expected_close = None
    if row.errors:
        return
    try:
        deal_fields_clean(
            customer_name=cells.get("customer_name", ""),
            customer_domain=cells.get("customer_domain", ""),
            customer_tax_id=cells.get("customer_tax_id", ""),
            contact_email=cells.get("contact_email", "").strip(),
            amount=cells.get("amount", "").strip(),
            currency=cells.get("currency", ""),
            expected_close=expected_close,
        )
    except ValidationError as refusal:
        for name, messages in refusal.message_dict.items():
            row.errors.setdefault(name, " ".join(messages))
    if "expected_close" in row.errors and expected_close is None and cells.get("expected_close"):
        row.errors["expected_close"] = _("Give the date as YYYY-MM-DD.")


def deals_csv_check(*, file: UploadedFile) -> list[DealRow]:
    """Scan and parse the file; every row checked as the register form would. A file-level problem is a
    ValidationError on `file`; row problems are in each row's `errors` (nothing is written either way)."""
    upload_scan(file=file, kind=CSV_TEXT, field="file")
    file.seek(0)
    # utf-8-sig drops the byte-order mark spreadsheets write; newline="" lets csv handle quoted line breaks.
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text)
        header = [column.strip() for column in next(reader, [])]
        if not any(header):
            raise ValidationError({"file": _("The file has no header row.")})
        if problems := header_problems(header, columns=DEAL_COLUMNS, required=REQUIRED_COLUMNS):
            raise ValidationError({"file": problems})
        rows = []
        for number, cells in enumerate(reader, start=FIRST_DATA_ROW):
            if not any(cells):
                continue
            if len(rows) == MAX_ROWS:
                raise ValidationError({"file": _("At most %(count)s deals per file.") % {"count": MAX_ROWS}})
            row = DealRow(number, {column: cell for column, cell in zip(header, cells, strict=False) if cell != ""})
            if len(cells) > len(header):
                row.cells["(extra cells)"] = ",".join(cells[len(header) :])
            rows.append(row)
    except (csv.Error, UnicodeDecodeError) as error:
        raise ValidationError({"file": _("The file is not valid CSV: %(error)s.") % {"error": error}}) from error
    finally:
        text.detach()
    if not rows:
        raise ValidationError({"file": _("The file has a header but no rows.")})
    seen: dict[str, int] = {}
    for row in rows:
        _row_check(row)
        key = row.cells.get("external_id", "").strip()
        if key and key in seen and "external_id" not in row.errors:
            row.errors["external_id"] = _("Repeats row %(row)s.") % {"row": seen[key]}
        seen.setdefault(key, row.number)
    return rows


@dataclass(frozen=True)
class DealsCsvResult:
    registered: list[DealRegistration]
    already: list[DealRegistration]


@transaction.atomic
def deals_csv_register(*, partner: Partner, actor: User, rows: list[DealRow]) -> DealsCsvResult:
    """Register every checked row for the partner (source `csv`), each submitted for review; a row whose
    `external_id` the partner registered before returns that registration, so uploading the file again is safe."""
    if any(row.errors for row in rows):
        raise ValidationError(_("Correct the rows with problems first."))
    known = set(
        DealRegistration.objects.filter(
            partner=partner, external_id__in=[row.cells["external_id"].strip() for row in rows]
        ).values_list("external_id", flat=True)
    )
    registered, already = [], []
    for row in rows:
        cells = row.cells
        deal = deal_register(
            partner=partner,
            registered_by=actor,
            source=DealRegistration.Source.CSV,
            external_id=cells["external_id"],
            customer_name=cells["customer_name"],
            customer_domain=cells.get("customer_domain", ""),
            customer_country=cells.get("customer_country", "").strip().upper(),
            customer_tax_id=cells.get("customer_tax_id", ""),
            contact_name=cells.get("contact_name", ""),
            contact_email=cells.get("contact_email", "").strip(),
            products=cells.get("products", ""),
            amount=cells["amount"].strip(),
            currency=cells["currency"],
            expected_close=date.fromisoformat(cells["expected_close"].strip()),
            notes=cells.get("notes", ""),
        )
        (already if cells["external_id"].strip() in known else registered).append(deal)
    return DealsCsvResult(registered, already)
