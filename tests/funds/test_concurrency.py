"""Concurrent pre-approvals on PostgreSQL: the fund account's lock means a budget never goes negative."""

from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from funds.models import FundAccount, FundEntry, FundRequest
from funds.selectors import fund_verify
from funds.services import fund_request_approve
from loyalty.tenancy.context import tenant_context
from tests.conftest import World
from tests.funds.helpers import gold_partner_with_funds, submitted_request
from tests.support import outcomes, run_concurrently

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="Needs PostgreSQL: SQLite locks the whole database and has no SELECT ... FOR UPDATE row locks",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_fifty_concurrent_approvals_of_500_against_5000_approve_exactly_ten(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)  # 5,000.00 USD available
        requests = [submitted_request(acme, period, "500", key=f"req-{index}") for index in range(50)]

    results = run_concurrently(
        acme.tenant, 50, lambda index: fund_request_approve(request=requests[index], actor=acme.manager)
    )

    assert outcomes(results) == Counter({"FundRequest": 10, "InsufficientFundsError": 40})
    with tenant_context(acme.tenant):
        account = FundAccount.objects.get()
        assert (account.available, account.committed) == (Decimal("0.00"), Decimal("5000.00"))
        assert FundRequest.objects.filter(status=FundRequest.Status.APPROVED).count() == 10
        assert FundRequest.objects.filter(status=FundRequest.Status.SUBMITTED).count() == 40
        commits = FundEntry.objects.filter(kind="commit")
        # Serialized by the account lock: each commit saw the previous one, every balance from 4,500 to 0 once.
        assert sorted(commits.values_list("available_after", flat=True)) == [Decimal(500 * n) for n in range(10)]
        assert FundEntry.objects.filter(available_after__lt=0).count() == 0
        assert fund_verify().breaches == []


def test_the_same_request_approved_twice_at_once_commits_once(acme: World) -> None:
    with tenant_context(acme.tenant):
        period = gold_partner_with_funds(acme)
        request = submitted_request(acme, period, "800")

    results = run_concurrently(acme.tenant, 10, lambda index: fund_request_approve(request=request, actor=acme.manager))

    assert outcomes(results) == Counter({"FundRequest": 1, "TransitionError": 9})
    with tenant_context(acme.tenant):
        assert FundEntry.objects.filter(kind="commit").count() == 1
        assert FundAccount.objects.get().available == Decimal("4200.00")
        assert fund_verify().breaches == []
