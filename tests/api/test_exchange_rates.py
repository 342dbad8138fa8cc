"""Exchange rates through the API: a finance system enters the day's rates in one call, corrects one (re-converting
that currency's activities of that day and re-scoring their partners), resends harmlessly; bad lines are field
errors naming the line, and nothing is saved unless every line is right. Access (scopes, other tenants, sessions)
is in test_access_matrix.py, which covers these endpoints too."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from earning.services import activity_approve
from loyalty.tenancy.context import tenant_context
from partners.currency import MAX_RATE_LINES
from partners.models import Activity, ExchangeRate
from partners.services import activity_record
from tests.conftest import World

URL = "/api/v1/exchange-rates/"


def program_day(world: World, days_ago: int) -> date:
    return datetime.now(ZoneInfo(world.tenant.time_zone)).date() - timedelta(days=days_ago)


def line(currency: str, day: date, rate: str) -> dict:
    return {"currency": currency, "day": day.isoformat(), "rate": rate}


def post(client: Client, rates: list[dict], **headers):
    return client.post(URL, {"rates": rates}, content_type="application/json", **headers)


def rates_of(world: World) -> list[tuple[str, date, Decimal, str]]:
    with tenant_context(world.tenant):
        return list(ExchangeRate.objects.order_by("currency", "day").values_list("currency", "day", "rate", "source"))


def test_a_finance_system_enters_the_days_rates_in_one_call(acme: World, acme_api: Client) -> None:
    day = program_day(acme, 1)
    response = post(acme_api, [line("eur", day, "1.0842"), line("GBP", day, "1.27")])
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["rate"]["currency"], r["rate"]["rate"], r["created"], r["previous"]) for r in results] == [
        ("EUR", "1.08420000", True, None),
        ("GBP", "1.27000000", True, None),
    ]
    assert rates_of(acme) == [("EUR", day, Decimal("1.0842"), "api"), ("GBP", day, Decimal("1.27"), "api")]

    listed = acme_api.get(f"{URL}?currency=eur&day_from={day.isoformat()}&day_until={day.isoformat()}").json()
    assert [(row["currency"], row["day"], row["rate"]) for row in listed["results"]] == [
        ("EUR", day.isoformat(), "1.08420000")
    ]
    detail = acme_api.get(f"{URL}{results[1]['rate']['id']}/").json()
    assert (detail["currency"], detail["source"]) == ("GBP", "api")


def test_a_correction_re_converts_that_day_and_a_resend_changes_nothing(acme: World, acme_api: Client) -> None:
    day = program_day(acme, 2)
    assert post(acme_api, [line("EUR", day, "1.08")]).status_code == 200
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(acme.tenant.time_zone))
    with tenant_context(acme.tenant):
        sale = activity_record(
            partner=acme.partner, kind="sale", occurred_at=noon, source=Activity.Source.API,
            amount=Decimal("1000.00"), currency="EUR", external_id="EUR-1",
        ).activity  # fmt: skip
        activity_approve(activity=sale, actor=acme.manager)
    assert sale.amount_converted == Decimal("1080.00")  # 1,000 EUR × 1.08

    corrected = post(acme_api, [line("EUR", day, "1.09")])
    assert corrected.status_code == 200, corrected.content
    (change,) = corrected.json()["results"]
    assert (change["created"], change["previous"], change["activities_reconverted"], change["partners_rescored"]) == (
        False,
        "1.08000000",
        1,
        1,
    )
    sale.refresh_from_db()
    assert (sale.amount_converted, sale.exchange_rate) == (Decimal("1090.00"), Decimal("1.09"))  # 1,000 × 1.09

    again = post(acme_api, [line("EUR", day, "1.09")])
    (repeat,) = again.json()["results"]
    assert (repeat["created"], repeat["activities_reconverted"], repeat["partners_rescored"]) == (False, 0, 0)
    assert rates_of(acme) == [("EUR", day, Decimal("1.09"), "api")]


def test_a_replayed_idempotency_key_answers_the_first_response(acme: World, acme_api: Client) -> None:
    day = program_day(acme, 1)
    first = post(acme_api, [line("EUR", day, "1.08")], HTTP_IDEMPOTENCY_KEY="rates-1")
    replay = post(acme_api, [line("EUR", day, "1.08")], HTTP_IDEMPOTENCY_KEY="rates-1")
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    assert len(rates_of(acme)) == 1


@pytest.mark.parametrize(
    ("rates", "field", "message"),
    [
        ([line("EUR", date(2026, 1, 2), "0")], "rate", "The rate must be a positive number with at most 8 decimals."),
        (
            [line("EUR", date(2026, 1, 2), "-1.2")],
            "rate",
            "The rate must be a positive number with at most 8 decimals.",
        ),
        ([line("USD", date(2026, 1, 2), "1")], "currency", "The program's own currency needs no rate."),
        ([line("XYZ", date(2026, 1, 2), "1.1")], "currency", "Unknown currency 'XYZ'"),
        ([line("EUR", date(9999, 12, 31), "1.1")], "day", ""),
        ([{"currency": "EUR", "day": "2026-02-30", "rate": "1.1"}], "day", "Date has wrong format"),
        ([{"currency": "EUR", "day": "2026-01-02", "rate": "1e400"}], "rate", ""),
        ([{"currency": "<b>€</b>", "day": "2026-01-02", "rate": "1.1"}], "currency", ""),
    ],
)
def test_a_bad_line_is_a_field_error_naming_it_and_nothing_is_saved(
    acme: World, acme_api: Client, rates: list[dict], field: str, message: str
) -> None:
    good = line("GBP", program_day(acme, 1), "1.27")
    response = post(acme_api, [good, *rates])
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    (name,) = fields
    assert name == f"rates.1.{field}", fields  # the second line, counted from 0
    assert message in " ".join(fields[name])
    assert rates_of(acme) == []


def test_the_same_currency_and_day_twice_is_refused(acme: World, acme_api: Client) -> None:
    day = program_day(acme, 1)
    response = post(acme_api, [line("EUR", day, "1.08"), line("eur", day, "1.09")])
    assert response.status_code == 400
    assert f"EUR on {day.isoformat()} is given twice." in str(response.json()["error"])
    assert rates_of(acme) == []


@pytest.mark.parametrize("body", [{}, {"rates": []}, {"rates": "EUR,2026-01-02,1.1"}, {"rates": [None]}])
def test_an_empty_or_malformed_body_is_a_field_error(acme_api: Client, body: dict) -> None:
    response = acme_api.post(URL, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "rates" in " ".join(response.json()["error"]["fields"])


def test_too_many_lines_are_refused_before_any_is_checked(acme: World, acme_api: Client) -> None:
    day = program_day(acme, 1)
    response = post(acme_api, [line("EUR", day, "1.08")] * (MAX_RATE_LINES + 1))
    assert response.status_code == 400
    assert rates_of(acme) == []


@pytest.mark.parametrize("query", ["day_from=", "day_from=2026-13-01", "day_until=yesterday"])
def test_a_bad_filter_is_a_field_error(acme_api: Client, query: str) -> None:
    response = acme_api.get(f"{URL}?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "validation_error"
    assert list(error["fields"]) == [query.split("=")[0]]
