"""The designer for programs managed as code (issue 18, item 6): copy a model into a draft, simulate it with or
without changes, publish it with a date and a policy; tenants and scopes are the access matrix's
(tests/api/test_access_matrix.py, which routes these three endpoints like every other).

The population is the program dashboard's (tests/portal/test_program.py): Alpha 60 Silver, Bravo 70 Gold,
Charlie 0 Gold (in grace), Delta 70 Gold, Echo 0 Registered; Silver 40, Gold 65, Platinum 85.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.portal.test_designer import _fresh_populations  # noqa: F401 (autouse: populations forgotten per test)
from tests.portal.test_program import Fixture, build_program
from tiers.models import TierModel


@pytest.fixture
def program(acme: World) -> Fixture:
    return build_program(acme)


def client(world: World, **key):
    return api_client(world, make_key(world, **key)[1])


def post(api, path: str, body: dict | None = None, **headers):
    return api.post(f"/api/v1/tier-models/{path}", body or {}, content_type="application/json", **headers)


def test_a_draft_is_copied_once_and_simulated_with_changes(program: Fixture) -> None:
    api = client(program.world)
    in_force = program.program.model
    first = post(api, f"{in_force.pk}/draft/")
    assert first.status_code == 201
    draft = first.json()
    assert (draft["status"], draft["version"]) == ("draft", 2)
    again = post(api, f"{in_force.pk}/draft/")
    assert (again.status_code, again.json()["id"]) == (200, draft["id"])
    assert post(api, f"{draft['id']}/draft/").status_code == 400  # a draft is changed where it is

    as_saved = post(api, f"{draft['id']}/simulate/").json()
    assert (as_saved["partners"], as_saved["moving_up"], as_saved["moving_down"]) == (5, 0, 1)  # Charlie drops
    tiers = [{"id": tier["id"]} for tier in sorted(draft["tiers"], key=lambda tier: tier["rank"])]
    tiers[2]["minimum_score"] = "75"  # Gold
    changed = post(api, f"{draft['id']}/simulate/", {"tiers": tiers}).json()
    assert sorted(mover["name"] for mover in changed["movers"]) == ["Bravo", "Charlie", "Delta"]
    assert changed["problems"] == []
    assert {row["now"]: row["then"]["Silver"] for row in changed["matrix"]}["Gold"] == 2
    assert changed["suggested_minimum_scores"]["ranks"] == [2, 3, 4]
    with tenant_context(program.world.tenant):
        assert TierModel.objects.get(pk=draft["id"]).tiers.get(name="Gold").minimum_score == 65  # nothing saved


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tiers": [{"id": 0}]}, "tiers"),
        ({"criteria": [{"id": 0, "weight": "1"}]}, "tiers"),
        ({"tiers": [{"id": 1, "minimum_score": "101"}]}, "tiers"),
        ({"criteria": [{"id": 1, "target": "0"}]}, "criteria"),
        ({"tiers": "Gold"}, "tiers"),
    ],
)
def test_simulate_refuses_what_does_not_read(program: Fixture, body: dict, field: str) -> None:
    response = post(client(program.world), f"{program.program.model.pk}/simulate/", body)
    assert response.status_code == 400
    assert any(name.split(".")[0] == field for name in response.json()["error"]["fields"])


def test_a_ladder_out_of_order_is_simulated_with_its_problems(program: Fixture) -> None:
    model = program.program.model
    with tenant_context(program.world.tenant):
        ids = list(model.tiers.order_by("rank").values_list("pk", flat=True))
    body = {"tiers": [{"id": ids[0]}, {"id": ids[2]}, {"id": ids[1]}, {"id": ids[3]}]}  # Gold below Silver
    answer = post(client(program.world), f"{model.pk}/simulate/", body).json()
    assert [problem["message"] for problem in answer["problems"] if problem["blocking"]] == [
        "Silver needs a higher minimum score than Gold (65).",
        "Silver's point multiplier is below Gold's (1.25).",
    ]


def test_publish_schedules_with_the_policy_audited_and_once(program: Fixture) -> None:
    world = program.world
    api = client(world)
    draft = post(api, f"{program.program.model.pk}/draft/").json()
    first_of_next_month = (timezone.localdate().replace(day=1) + timedelta(days=32)).replace(day=1)
    body = {"effective_from": first_of_next_month.isoformat(), "publication_downgrades": "protect", "version": 1}
    wrong_version = post(api, f"{draft['id']}/publish/", body)
    assert (wrong_version.status_code, list(wrong_version.json()["error"]["fields"])) == (400, ["version"])
    past = post(api, f"{draft['id']}/publish/", body | {"version": 2, "effective_from": "2000-01-01"})
    assert past.status_code == 400
    published = post(api, f"{draft['id']}/publish/", body | {"version": 2}, HTTP_IDEMPOTENCY_KEY="publish-v2")
    assert (published.status_code, published.json()["status"]) == (200, "scheduled")
    replay = post(api, f"{draft['id']}/publish/", body | {"version": 2}, HTTP_IDEMPOTENCY_KEY="publish-v2")
    assert replay.json() == published.json()
    repeat = post(api, f"{draft['id']}/publish/", body | {"version": 2})
    assert repeat.status_code == 400
    with tenant_context(world.tenant):
        model = TierModel.objects.get(pk=draft["id"])
        assert (model.status, model.effective_from, model.publication_downgrades, model.published_by) == (
            TierModel.Status.SCHEDULED,
            first_of_next_month,
            "protect",
            world.manager,
        )
        entries = AuditEntry.objects.filter(target_type="tiers.tiermodel", target_id=str(model.pk))
        assert entries.count() == 1
        assert "placed lower: protect (via" in entries.get().summary


def test_publish_needs_a_key_with_an_author_and_the_write_scope(program: Fixture) -> None:
    world = program.world
    draft = post(client(world), f"{program.program.model.pk}/draft/").json()
    body = {"effective_from": timezone.localdate().isoformat(), "publication_downgrades": "grace", "version": 2}
    reader = client(world, scopes=["tiers:read"])
    assert post(reader, f"{draft['id']}/publish/", body).status_code == 403
    assert post(reader, f"{draft['id']}/simulate/").status_code == 200
    with tenant_context(world.tenant):
        from api.services import api_key_create

        token = api_key_create(name="CLI", scopes=["tiers:write"], created_by=None).token
    assert post(api_client(world, token), f"{draft['id']}/publish/", body).status_code == 403
    with tenant_context(world.tenant):
        assert TierModel.objects.get(pk=draft["id"]).status == TierModel.Status.DRAFT
