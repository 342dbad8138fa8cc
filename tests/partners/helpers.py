"""Shared helpers for partner-side tests: evidence files and a sales earning rule."""

import io
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from earning.models import EarningRule
from loyalty.ledger.models import LedgerEntry
from loyalty.tenancy.context import tenant_context
from tests.conftest import World

PDF_BYTES = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "#b4451f").save(buffer, format="PNG")
    return buffer.getvalue()


PNG_BYTES = _png()


def pdf(name: str = "invoice.pdf", content: bytes = PDF_BYTES) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def sales_rule(world: World, **overrides) -> EarningRule:
    """1 point per unit of currency on sales, unless overridden."""
    fields = {
        "name": "Sales",
        "activity_kind": "sale",
        "basis": EarningRule.Basis.PER_CURRENCY_UNIT,
        "rate": Decimal(1),
    } | overrides
    with tenant_context(world.tenant):
        return EarningRule.objects.create(**fields)


def balance_of(world: World, partner=None) -> int:  # noqa: ANN001 - a Partner
    partner = partner or world.partner
    with tenant_context(world.tenant):
        return sum(LedgerEntry.objects.filter(account__partner=partner).values_list("points", flat=True))
