"""When a write to a cached row replaces its family's generation (loyalty/tenancy/caching.py, `generation_bump`): at
once in autocommit; else once at the commit, however many writes; never for a transaction or savepoint rolled back.

Transactional tests: the commits and rollbacks are real.
"""

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import update_last_login
from django.db import transaction

from loyalty.tenancy import caching
from tests.conftest import World

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the generations are Redis's: set REDIS_URL"),
]


@pytest.fixture
def bumps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The families bumped from now on, in order."""
    bumped: list[str] = []
    bump = caching._bump

    def counted(using: str, family: str) -> None:
        bumped.append(family)
        bump(using, family)

    monkeypatch.setattr(caching, "_bump", counted)
    return bumped


def _rename(world: World, name: str) -> None:
    world.tenant.name = name
    world.tenant.save(update_fields=["name"])


def test_a_write_in_autocommit_bumps_at_once(acme: World, bumps: list[str]) -> None:
    before = caching.generation()
    _rename(acme, "Acme Renamed")
    assert bumps == [caching.TENANCY]
    assert caching.generation() not in {None, before}


def test_two_writes_in_one_transaction_bump_once_at_the_commit(acme: World, bumps: list[str]) -> None:
    before = caching.generation()
    with transaction.atomic():
        _rename(acme, "Acme Once")
        _rename(acme, "Acme Twice")
        assert bumps == []
        assert caching._written_in_transaction()
        assert caching.generation() is None  # the transaction wrote: the cache is not used
    assert bumps == [caching.TENANCY]
    assert not caching._written_in_transaction()
    assert caching.generation() not in {None, before}


def test_a_transaction_rolled_back_bumps_nothing_and_the_next_one_still_does(acme: World, bumps: list[str]) -> None:
    before = caching.generation()
    with transaction.atomic():
        _rename(acme, "Acme Never")
        transaction.set_rollback(True)
    assert bumps == []
    assert caching.generation() == before
    with transaction.atomic():
        assert not caching._written_in_transaction()  # nothing left over from the transaction rolled back
        _rename(acme, "Acme Again")
    assert bumps == [caching.TENANCY]
    assert caching.generation() not in {None, before}


def test_a_bump_in_a_savepoint_rolled_back_is_dropped_and_a_write_after_it_still_bumps(
    acme: World, bumps: list[str]
) -> None:
    with transaction.atomic():
        with transaction.atomic():
            _rename(acme, "Acme Dropped")
            transaction.set_rollback(True)
        assert not caching._written_in_transaction()  # the savepoint's write went with it
        _rename(acme, "Acme Kept")
        assert caching._written_in_transaction()
    assert bumps == [caching.TENANCY]


def test_a_bump_in_a_savepoint_released_waits_for_the_commit(acme: World, bumps: list[str]) -> None:
    with transaction.atomic():
        with transaction.atomic():
            _rename(acme, "Acme Inner")
        assert caching._written_in_transaction()  # the released savepoint's write is the transaction's
        assert bumps == []
    assert bumps == [caching.TENANCY]


def test_each_family_is_bumped_once(acme: World, bumps: list[str]) -> None:
    with transaction.atomic():
        _rename(acme, "Acme Families")
        caching.generation_bump(family="badges")
        caching.generation_bump(family="badges")
        _rename(acme, "Acme Families Again")
    assert sorted(bumps) == ["badges", caching.TENANCY]


def test_a_member_renamed_bumps_and_a_login_does_not(acme: World, bumps: list[str]) -> None:
    """The tenancy generation keys pages that name members (a partner's team on its dashboard)."""
    update_last_login(None, acme.partner_user)
    assert bumps == []
    acme.partner_user.first_name = "Renamed"
    acme.partner_user.save(update_fields=["first_name"])
    assert bumps == [caching.TENANCY]


def test_a_write_naming_its_fields_in_a_generator_still_bumps(acme: World, bumps: list[str]) -> None:
    """Django takes any iterable of field names and reads it once: the save must not find it empty afterwards."""
    acme.tenant.name = "Acme Generated"
    acme.tenant.save(update_fields=(name for name in ["name"]))
    acme.partner_user.first_name = "Generated"
    acme.partner_user.save(update_fields=(name for name in ["first_name"]))
    assert bumps == [caching.TENANCY, caching.TENANCY]
