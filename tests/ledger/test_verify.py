"""The `ledger_verify` command: passes on a consistent ledger, fails loudly on data corrupted behind its back."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount, PointsLot
from loyalty.ledger.selectors import ledger_verify
from loyalty.ledger.services import points_account_for
from loyalty.tenancy.context import current_tenant_or_none, tenant_context
from tests.conftest import World
from tests.ledger.factories import earn, is_postgresql, redeem
from tests.support import execute_as_table_owner


@dataclass
class Ledgers:
    """acme: one account, earn 100 then redeem 30 (balance 70); globex: one account, earn 50."""

    acme_account: PointsAccount
    acme_earn: LedgerEntry
    acme_redeem: LedgerEntry
    acme_lot: PointsLot
    globex_account: PointsAccount


@pytest.fixture
def ledgers(acme: World, globex: World) -> Ledgers:
    with tenant_context(acme.tenant):
        acme_account = points_account_for(partner=acme.partner)
        acme_earn = earn(acme_account, 100, "earn-1")
        acme_redeem = redeem(acme_account, 30, "order-1")
        acme_lot = PointsLot.objects.get(entry=acme_earn)
    with tenant_context(globex.tenant):
        globex_account = points_account_for(partner=globex.partner)
        earn(globex_account, 50, "earn-1")
    return Ledgers(acme_account, acme_earn, acme_redeem, acme_lot, globex_account)


def run_verify(*args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("ledger_verify", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def run_verify_expecting_failure(*args: str) -> tuple[str, str, str]:
    stdout, stderr = StringIO(), StringIO()
    with pytest.raises(CommandError) as error:
        call_command("ledger_verify", *args, stdout=stdout, stderr=stderr)
    return str(error.value), stdout.getvalue(), stderr.getvalue()


def execute(sql: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


SQLITE_TRIGGER = (
    "CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
    "BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END"
)


@contextmanager
def append_only_trigger_disabled(*tables: str) -> Iterator[None]:
    """Tamper the way someone with database access could; the trigger is back (and the test rolls back) after."""
    if is_postgresql() and tables:
        # ALTER TABLE refuses while the test transaction holds deferred foreign-key checks: run them now.
        execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in tables:
        if is_postgresql():
            execute_as_table_owner(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        else:
            execute(f"DROP TRIGGER {table}_no_update")
    try:
        yield
    finally:
        for table in tables:
            if is_postgresql():
                execute_as_table_owner(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
            else:
                execute(SQLITE_TRIGGER.format(table=table))
        if is_postgresql() and tables:
            execute("SET CONSTRAINTS ALL DEFERRED")


def assert_entry_trigger_is_back() -> None:
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        execute("UPDATE ledger_ledgerentry SET memo = 'again'")


def test_verify_passes_on_a_consistent_ledger_with_one_summary_line(ledgers: Ledgers) -> None:
    stdout, stderr = run_verify()

    assert stdout == "ledger_verify: 2 tenant(s), 2 accounts, 3 entries, 0 breaches\n"
    assert stderr == ""
    assert current_tenant_or_none() is None


def test_verify_passes_on_an_empty_ledger(db: None) -> None:
    stdout, stderr = run_verify()

    assert stdout == "ledger_verify: 0 tenant(s), 0 accounts, 0 entries, 0 breaches\n"
    assert stderr == ""


def test_verify_fails_when_an_account_balance_was_changed_by_raw_sql(ledgers: Ledgers) -> None:
    account = ledgers.acme_account.pk
    execute("UPDATE ledger_pointsaccount SET balance = balance + 5 WHERE id = %s", [account])

    message, stdout, stderr = run_verify_expecting_failure()

    assert message == "ledger_verify: 2 tenant(s), 2 accounts, 3 entries, 2 breaches"
    assert stdout == ""
    assert stderr.splitlines() == [
        f"acme: account {account}: balance 75 != entries 70",
        f"acme: account {account}: balance 75 != lots remaining 70",
    ]


def test_verify_fails_when_a_lot_remaining_was_changed_by_raw_sql(ledgers: Ledgers) -> None:
    account = ledgers.acme_account.pk
    execute("UPDATE ledger_pointslot SET remaining = remaining - 1 WHERE id = %s", [ledgers.acme_lot.pk])

    message, stdout, stderr = run_verify_expecting_failure()

    assert message == "ledger_verify: 2 tenant(s), 2 accounts, 3 entries, 1 breaches"
    assert stdout == ""
    assert stderr.splitlines() == [f"acme: account {account}: balance 70 != lots remaining 69"]


def test_verify_fails_when_an_entry_points_were_changed_with_the_trigger_disabled(ledgers: Ledgers) -> None:
    account, entry = ledgers.acme_account.pk, ledgers.acme_redeem.pk
    with append_only_trigger_disabled("ledger_ledgerentry"):
        execute("UPDATE ledger_ledgerentry SET points = -20 WHERE id = %s", [entry])
    assert_entry_trigger_is_back()

    message, stdout, stderr = run_verify_expecting_failure()

    assert message == "ledger_verify: 2 tenant(s), 2 accounts, 3 entries, 2 breaches"
    assert stdout == ""
    assert stderr.splitlines() == [
        f"acme: account {account}: entry {entry} was changed after it was written",
        f"acme: account {account}: balance 70 != entries 80",
    ]


def test_verify_fails_when_only_an_entry_memo_was_changed_because_the_hash_chain_breaks(ledgers: Ledgers) -> None:
    account, entry = ledgers.acme_account.pk, ledgers.acme_earn.pk
    with append_only_trigger_disabled("ledger_ledgerentry"):
        execute("UPDATE ledger_ledgerentry SET memo = 'Approved by the CEO' WHERE id = %s", [entry])

    message, _stdout, stderr = run_verify_expecting_failure()

    assert message == "ledger_verify: 2 tenant(s), 2 accounts, 3 entries, 1 breaches"
    assert stderr.splitlines() == [f"acme: account {account}: entry {entry} was changed after it was written"]


def test_verify_fails_when_an_entry_was_deleted(ledgers: Ledgers) -> None:
    account, entry = ledgers.acme_account.pk, ledgers.acme_redeem.pk
    # PostgreSQL refuses DELETE on both tables; SQLite's triggers refuse UPDATE only, so nothing is disabled there.
    tables = ["ledger_ledgerentry", "ledger_lotallocation"] if is_postgresql() else []
    with append_only_trigger_disabled(*tables):
        execute("DELETE FROM ledger_lotallocation WHERE entry_id = %s", [entry])
        execute("DELETE FROM ledger_ledgerentry WHERE id = %s", [entry])

    message, stdout, stderr = run_verify_expecting_failure()

    assert message == "ledger_verify: 2 tenant(s), 2 accounts, 2 entries, 2 breaches"
    assert stdout == ""
    assert stderr.splitlines() == [
        f"acme: account {account}: balance 70 != entries 100",
        f"acme: account {account}: hash chain does not end at the account's head",
    ]


def test_verify_fails_when_an_entry_was_inserted_behind_the_ledgers_back(ledgers: Ledgers, acme: World) -> None:
    account = ledgers.acme_account.pk
    with tenant_context(acme.tenant):
        forged = LedgerEntry(
            account=ledgers.acme_account,
            kind=EntryKind.ADJUST,
            points=1,
            balance_after=71,
            idempotency_key="forged",
            entry_hash="0" * 64,
        )
        forged.save(force_insert=True)

    _message, _stdout, stderr = run_verify_expecting_failure("--tenant", "acme")

    assert stderr.splitlines() == [
        f"acme: account {account}: entry {forged.pk} was changed after it was written",
        f"acme: account {account}: balance 70 != entries 71",
        f"acme: account {account}: hash chain does not end at the account's head",
    ]


def test_verify_of_one_tenant_checks_only_that_tenant(ledgers: Ledgers) -> None:
    execute("UPDATE ledger_pointsaccount SET balance = balance + 5 WHERE id = %s", [ledgers.globex_account.pk])

    stdout, stderr = run_verify("--tenant", "acme")

    assert stdout == "ledger_verify: 1 tenant(s), 1 accounts, 2 entries, 0 breaches\n"
    assert stderr == ""
    message, _stdout, stderr = run_verify_expecting_failure("--tenant", "globex")
    assert message == "ledger_verify: 1 tenant(s), 1 accounts, 1 entries, 2 breaches"
    assert all(line.startswith("globex: ") for line in stderr.splitlines())
    assert len(stderr.splitlines()) == 2


def test_verify_of_an_unknown_tenant_is_an_error(ledgers: Ledgers) -> None:
    stdout, stderr = StringIO(), StringIO()

    with pytest.raises(CommandError, match=r"^No tenant with slug 'nope'\.$"):
        call_command("ledger_verify", "--tenant", "nope", stdout=stdout, stderr=stderr)

    assert stdout.getvalue() == ""
    assert stderr.getvalue() == ""


def test_verify_selector_reports_counts_of_the_current_tenant_only(ledgers: Ledgers, acme: World) -> None:
    with tenant_context(acme.tenant):
        report = ledger_verify()

    assert (report.accounts, report.entries, report.breaches) == (1, 2, [])
