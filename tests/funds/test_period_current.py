"""`fund_period_current`: the period today falls in (the latest starting one when several overlap), else the latest;
one query, as the dashboard asks it on every request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from funds.selectors import fund_period_current
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.funds.helpers import quarter

pytestmark = pytest.mark.django_db


def test_the_current_period_is_the_latest_starting_one_today_falls_in(acme: World, django_assert_num_queries) -> None:
    today = timezone.localdate()
    with tenant_context(acme.tenant):
        assert fund_period_current() is None
        later = quarter(name="Next", starts_on=today + timedelta(days=30), ends_on=today + timedelta(days=120))
        assert fund_period_current() == later  # none current: the latest
        wide = quarter(name="Year", starts_on=today - timedelta(days=200), ends_on=today + timedelta(days=100))
        narrow = quarter(name="Month", starts_on=today - timedelta(days=5), ends_on=today + timedelta(days=20))
        quarter(name="Past", starts_on=today - timedelta(days=400), ends_on=today - timedelta(days=300))
        with django_assert_num_queries(1):  # the period
            assert fund_period_current() == narrow  # current before the later one, the latest starting of those
        narrow.delete()
        assert fund_period_current() == wide
