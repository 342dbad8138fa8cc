"""Money in many currencies: activities in another currency converted at the rate of their day, a missing rate
refused by name, earning and the scorecard on converted amounts, a rate correction re-converting only its day."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from earning.services import activity_approve, exchange_rate_set
from imports.ingest import activities_ingest
from loyalty.tenancy.context import tenant_context
from partners.currency import converted, rate_set
from partners.models import Activity, ExchangeRate
from partners.services import activity_record
from tests.conftest import World
from tests.partners.helpers import balance_of, sales_rule
from tests.tiers.factories import REVENUE, revenue_program
from tiers.metrics import metric_values, qualification_window

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def program(acme: World) -> World:
    """Acme in USD, New York time; rates EUR→USD 1.08 and GBP→USD 1.27 yesterday, EUR 1.10 the day before."""
    acme.tenant.time_zone = "America/New_York"
    acme.tenant.save(update_fields=["time_zone"])
    with tenant_context(acme.tenant):
        rate_set(currency="EUR", day=yesterday(), rate=Decimal("1.08"), actor=acme.manager)
        rate_set(currency="GBP", day=yesterday(), rate=Decimal("1.27"), actor=acme.manager)
        rate_set(currency="EUR", day=yesterday() - timedelta(days=1), rate=Decimal("1.10"), actor=acme.manager)
    return acme


def yesterday() -> date:
    return timezone.now().astimezone(NEW_YORK).date() - timedelta(days=1)


def noon(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def record(world: World, external_id: str, amount: str, currency: str, when: datetime) -> Activity:
    with tenant_context(world.tenant):
        return activity_record(
            partner=world.partner, kind="sale", occurred_at=when, source=Activity.Source.API,
            amount=Decimal(amount), currency=currency, external_id=external_id,
        ).activity  # fmt: skip


def test_an_amount_in_another_currency_keeps_both_amounts(program: World) -> None:
    euro = record(program, "E-1", "1000.00", "EUR", noon(yesterday()))
    dollars = record(program, "U-1", "250.00", "USD", noon(yesterday()))
    # 1,000 EUR × 1.08 = 1,080.00 USD; an amount in USD is its own converted amount at rate 1.
    assert (euro.amount, euro.currency, euro.amount_converted, euro.exchange_rate) == (
        Decimal("1000.00"), "EUR", Decimal("1080.00"), Decimal("1.08"),
    )  # fmt: skip
    assert (dollars.amount_converted, dollars.exchange_rate) == (Decimal("250.00"), Decimal(1))


def test_the_rate_of_the_activitys_day_in_the_programs_time_zone(program: World) -> None:
    # 23:30 in New York the day before yesterday is already yesterday in UTC: the program's day decides (1.10).
    late = record(program, "E-2", "100.00", "EUR", noon(yesterday() - timedelta(days=1), 23, 30))
    assert (late.exchange_rate, late.amount_converted) == (Decimal("1.10"), Decimal("110.00"))


def test_conversion_rounds_half_up_to_the_cent() -> None:
    # 10.05 × 1.05 = 10.5525 → 10.55; 0.05 × 1.5 = 0.075 → 0.08
    assert converted(Decimal("10.05"), Decimal("1.05")) == Decimal("10.55")
    assert converted(Decimal("0.05"), Decimal("1.5")) == Decimal("0.08")


def test_a_missing_rate_is_refused_naming_it(program: World) -> None:
    day = yesterday() - timedelta(days=5)
    with pytest.raises(ValidationError) as error:
        record(program, "E-3", "100.00", "EUR", noon(day))
    assert error.value.message_dict == {
        "currency": [
            f"No exchange rate from EUR to USD for {day.isoformat()}: enter it under Exchange rates, then send the "
            "activity again."
        ]
    }
    with tenant_context(program.tenant):
        assert not Activity.objects.exists()


def test_earning_per_currency_unit_reads_the_converted_amount(program: World) -> None:
    sales_rule(program)  # 1 point per unit of the program's currency
    euro = record(program, "E-4", "999.99", "EUR", noon(yesterday()))
    with tenant_context(program.tenant):
        entries = activity_approve(activity=euro, actor=program.manager)
    # 999.99 EUR × 1.08 = 1,079.9892 → 1,079.99 USD → 1,079 points (rounded down)
    assert [entry.points for entry in entries] == [1079]
    assert balance_of(program) == 1079


def test_the_scorecards_revenue_reads_converted_amounts(program: World) -> None:
    with tenant_context(program.tenant):
        model = revenue_program().model
        window = qualification_window(model=model, evaluated_on=timezone.localdate(), time_zone="America/New_York")
    for external_id, amount, currency in (("E-5", "1000.00", "EUR"), ("G-1", "100.00", "GBP"), ("U-2", "5", "USD")):
        activity = record(program, external_id, amount, currency, noon(yesterday()))
        with tenant_context(program.tenant):
            activity_approve(activity=activity, actor=program.manager)
    with tenant_context(program.tenant):
        values = metric_values(specs=[REVENUE], partner_ids=[program.partner.pk], window=window)
    # 1,000 × 1.08 + 100 × 1.27 + 5 = 1,080 + 127 + 5 = 1,212 USD
    assert values[REVENUE] == {program.partner.pk: Decimal("1212.00")}


def test_bulk_ingest_converts_and_names_a_missing_rate(program: World) -> None:
    rows = [
        {"partner": program.partner.external_id, "external_id": "B-1", "kind": "sale",
         "occurred_at": noon(yesterday()).isoformat(), "amount": "200.00", "currency": "GBP"},
        {"partner": program.partner.external_id, "external_id": "B-2", "kind": "sale",
         "occurred_at": noon(yesterday() - timedelta(days=3)).isoformat(), "amount": "200.00", "currency": "GBP"},
    ]  # fmt: skip
    with tenant_context(program.tenant):
        first, second = activities_ingest(rows=rows, source="csv", actor=program.manager)
        stored = Activity.objects.get(pk=first.activity_id)
    assert (stored.amount, stored.currency, stored.amount_converted) == (Decimal("200.00"), "GBP", Decimal("254.00"))
    assert second.status == "error"
    day = (yesterday() - timedelta(days=3)).isoformat()
    assert second.errors["currency"][0].startswith(f"No exchange rate from GBP to USD for {day}")


def test_a_rate_correction_re_converts_only_that_currency_on_that_day(
    program: World, django_capture_on_commit_callbacks
):
    sales_rule(program)
    corrected = record(program, "E-6", "1000.00", "EUR", noon(yesterday()))
    pending = record(program, "E-7", "500.00", "EUR", noon(yesterday(), 9))
    record(program, "E-8", "1000.00", "EUR", noon(yesterday() - timedelta(days=1)))
    record(program, "G-2", "1000.00", "GBP", noon(yesterday()))
    with tenant_context(program.tenant):
        activity_approve(activity=corrected, actor=program.manager)  # 1,080 points at 1.08
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            change = exchange_rate_set(currency="EUR", day=yesterday(), rate=Decimal("1.09"), actor=program.manager)
        again = exchange_rate_set(currency="EUR", day=yesterday(), rate=Decimal("1.09"), actor=program.manager)
        values = dict(Activity.objects.values_list("external_id", "amount_converted"))
        entries = activity_approve(activity=Activity.objects.get(pk=pending.pk), actor=program.manager)
    # Only yesterday's two EUR activities: 1,000 × 1.09 = 1,090.00 and 500 × 1.09 = 545.00.
    assert values == {
        "E-6": Decimal("1090.00"),
        "E-7": Decimal("545.00"),
        "E-8": Decimal("1100.00"),  # the day before: 1.10, untouched
        "G-2": Decimal("1270.00"),  # another currency: untouched
    }
    assert (change.previous, change.activities, change.partners) == (Decimal("1.08"), 2, [program.partner.pk])
    assert len(callbacks) == 1  # one re-score message, for the one partner with an approved activity among them
    assert (again.activities, again.partners) == (0, [])  # the same rate again changes nothing
    # Points already posted stay (append-only); the pending one is priced at the corrected amount when approved.
    assert [entry.points for entry in entries] == [545]
    assert balance_of(program) == 1080 + 545


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "USD"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"rate": Decimal(0)}, "rate"),
        ({"rate": Decimal("-1")}, "rate"),
        ({"rate": Decimal("1.123456789")}, "rate"),
        ({"rate": Decimal("NaN")}, "rate"),
        ({"day": date(9999, 12, 31)}, "day"),  # the next day's midnight would overflow: refused, never a 500
        ({"day": date(1, 1, 1)}, "day"),
    ],
)
def test_bad_rates_are_refused_on_their_field(acme: World, fields: dict, field: str) -> None:
    values = {"currency": "EUR", "day": date(2026, 3, 1), "rate": Decimal("1.08"), "actor": None} | fields
    with tenant_context(acme.tenant), pytest.raises(ValidationError) as error:
        rate_set(**values)
    assert list(error.value.message_dict) == [field]


def test_rates_are_the_tenants_own(program: World, globex: World) -> None:
    with tenant_context(globex.tenant):
        assert not ExchangeRate.objects.exists()
        with pytest.raises(ValidationError):
            activity_record(
                partner=globex.partner, kind="sale", occurred_at=noon(yesterday()), source=Activity.Source.API,
                amount=Decimal(10), currency="GBP" if globex.tenant.currency != "GBP" else "EUR",
            )  # fmt: skip


def test_the_statement_shows_the_original_amount_and_its_converted_value(program: World, client_for) -> None:
    sales_rule(program)
    euro = record(program, "E-9", "1000.00", "EUR", noon(yesterday()))
    with tenant_context(program.tenant):
        activity_approve(activity=euro, actor=program.manager)
    content = client_for(program, program.partner_user).get("/statement/").content.decode()
    assert "1,000.00 EUR (1,080.00 USD at 1.08)" in content


RATES_PAGE = "/admin/partners/exchangerate/"


def test_staff_enter_and_correct_a_rate_in_the_admin(program: World, client_for) -> None:
    client = client_for(program, program.manager)
    day = (yesterday() - timedelta(days=9)).isoformat()
    added = client.post(RATES_PAGE + "add/", {"currency": "chf", "day": day, "rate": "1.1234"})
    assert added.status_code == 302
    with tenant_context(program.tenant):
        rate = ExchangeRate.objects.get(currency="CHF")
    assert (rate.rate, rate.updated_by) == (Decimal("1.1234"), program.manager)
    # A second rate for the same day through the add form corrects the first rather than failing on uniqueness.
    again = client.post(RATES_PAGE + "add/", {"currency": "CHF", "day": day, "rate": "1.2"})
    assert again.status_code == 302, again.context["adminform"].form.errors
    refused = client.post(RATES_PAGE + "add/", {"currency": "USD", "day": day, "rate": "1"})
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["currency"] == ["The program's own currency needs no rate."]
    with tenant_context(program.tenant):
        assert list(ExchangeRate.objects.filter(currency="CHF").values_list("rate", flat=True)) == [Decimal("1.2")]


def test_rates_pasted_as_csv_all_or_none(program: World, client_for) -> None:
    client = client_for(program, program.manager)
    assert client.get(RATES_PAGE + "import/").status_code == 200
    first, second = ((yesterday() - timedelta(days=n)).isoformat() for n in (20, 21))
    bad = client.post(RATES_PAGE + "import/", {"text": f"currency,day,rate\nJPY,{first},0.0067\nJPY,{second},-1\n"})
    assert bad.status_code == 200
    assert bad.context["form"].errors["text"] == ["Line 3: The rate must be a positive number with at most 8 decimals."]
    with tenant_context(program.tenant):
        assert not ExchangeRate.objects.filter(currency="JPY").exists()
    good = client.post(RATES_PAGE + "import/", {"text": f"JPY,{first},0.0067\njpy,{second},0.0068\n"})
    assert good.status_code == 302
    with tenant_context(program.tenant):
        rows = list(ExchangeRate.objects.filter(currency="JPY").order_by("day").values_list("rate", "source"))
    assert rows == [(Decimal("0.0068"), "csv"), (Decimal("0.0067"), "csv")]
    # A day given twice is refused, naming it, rather than the second line silently winning.
    twice = client.post(RATES_PAGE + "import/", {"text": f"JPY,{first},0.0070\nJPY,{first},0.0071\n"})
    assert twice.context["form"].errors["text"] == [f"JPY on {first} is given twice."]
    with tenant_context(program.tenant):
        assert ExchangeRate.objects.get(currency="JPY", day=first).rate == Decimal("0.0067")


@pytest.mark.parametrize("role", ["account_manager", "finance", "partner_user"])
def test_other_roles_and_tenants_cannot_open_the_rates(program: World, globex: World, client_for, role: str) -> None:
    for path in (RATES_PAGE, RATES_PAGE + "import/", RATES_PAGE + "add/"):
        response = client_for(program, getattr(program, role)).get(path)
        assert response.status_code in {302, 403}, path
        assert client_for(program, globex.manager).get(path).status_code in {302, 403}
    # Another tenant's staff see their own (empty) list, never Acme's rates.
    listing = client_for(globex, globex.manager).get(RATES_PAGE)
    assert listing.status_code == 200
    assert "1.08" not in listing.content.decode()
