"""`months_after`, the lot expiry's month arithmetic, gives exactly what dateutil's relativedelta gives."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from loyalty.ledger.services import months_after

ZONES = [UTC, ZoneInfo("Europe/Madrid"), ZoneInfo("America/Sao_Paulo"), timezone(timedelta(hours=5, minutes=30))]


@given(
    # Naive bounds, as hypothesis takes them; each moment is given a zone below.
    moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31)),  # noqa: DTZ001
    zone=st.sampled_from(ZONES),
    months=st.integers(min_value=-600, max_value=600),
)
def test_months_after_is_relativedelta(moment: datetime, zone: object, months: int) -> None:
    aware = moment.replace(tzinfo=zone)
    assert months_after(aware, months) == aware + relativedelta(months=months)
    assert months_after(aware, months).tzinfo is aware.tzinfo


def test_months_after_ends_on_the_months_last_day() -> None:
    assert months_after(datetime(2026, 1, 31, 9, tzinfo=UTC), 1) == datetime(2026, 2, 28, 9, tzinfo=UTC)
    assert months_after(datetime(2027, 12, 31, tzinfo=UTC), 2) == datetime(2028, 2, 29, tzinfo=UTC)
    assert months_after(datetime(2026, 3, 31, tzinfo=UTC), -1) == datetime(2026, 2, 28, tzinfo=UTC)
