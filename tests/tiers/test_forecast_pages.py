"""Forecasts end to end: stored by the nightly run, said on the dashboard (en/es), in the API's partner status and
as flags on the worklist; only to those who may see the partner."""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty.tenancy.context import tenant_context
from tests.api.conftest import api_client, make_key
from tests.conftest import World
from tests.tiers.factories import revenue_program, sale
from tiers.models import PartnerScore
from tiers.services import evaluation_chunk, tenant_evaluate, tier_model_publish


def evaluate(world: World) -> None:
    tenant_evaluate(
        evaluated_on=timezone.localdate(), dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk)
    )


@pytest.fixture
def forecast_world(acme: World) -> World:
    """Revenue program (score = revenue / 1,000). The partner: 30,000 sold 200 days ago and 30,000 in the last
    month: Silver (60), on pace for Gold (65) in 15 days; without new sales the older 30,000 leaves in about five
    months and takes it below Silver. The unmanaged partner: Silver on 45,000 sold 300 days ago, nothing since: it
    leaves in about two months."""
    with tenant_context(acme.tenant):
        tier_model_publish(model=revenue_program().model, actor=acme.manager)
        sale(acme.partner, timezone.now() - timedelta(days=200), "30000")
        sale(acme.partner, timezone.now() - timedelta(days=20), "30000")
        sale(acme.unmanaged_partner, timezone.now() - timedelta(days=300), "45000")
        evaluate(acme)
    return acme


def test_the_nightly_run_stores_the_forecast_with_the_score(forecast_world: World) -> None:
    with tenant_context(forecast_world.tenant):
        score = PartnerScore.objects.get(partner=forecast_world.partner)
    forecast = score.forecast
    today = timezone.localdate()
    assert score.tier.name == "Silver"
    assert forecast["next_tier"]["name"] == "Gold"
    # 30,000 in the last 90 days: 333.33 a day; 4,995 more (64.995 rounds to 65.00) takes 14.985 days: day 15,
    # before anything leaves (the 30,000 of 200 days ago leaves in its month slice about five months ahead).
    assert forecast["reaches_on"] == (today + timedelta(days=15)).isoformat()
    assert forecast["on_pace_for_upgrade"] is True
    assert forecast["at_risk_by_rolloff"] is False
    rolloff = forecast["rolloff"]
    assert rolloff["held_tier"]["name"] == "Silver"
    assert rolloff["tier_after_grace"]["name"] == "Registered"
    assert rolloff["leaving"]["metric"] == "revenue"


def test_dashboard_says_the_forecast_in_english_and_spanish(forecast_world: World, client_for) -> None:
    client = client_for(forecast_world, forecast_world.partner_user)
    page = client.get("/").content.decode()
    assert "Where your pace takes you" in page
    assert "At your pace of the last 90 days you reach Gold around" in page
    assert "leaves your 12-month window by" in page
    assert "Last 90 days: $30,000" in page
    forecast_world.partner_user.language = "es"
    forecast_world.partner_user.save(update_fields=["language"])
    spanish = client.get("/").content.decode()
    assert "A su ritmo de los últimos 90 días alcanza Gold hacia el" in spanish
    assert "Últimos 90 días: 30.000" in spanish
    assert "At your pace" not in spanish


def test_api_partner_status_carries_the_forecast_and_its_sentences(forecast_world: World) -> None:
    _key, token = make_key(forecast_world)
    body = api_client(forecast_world, token).get(f"/api/v1/partners/{forecast_world.partner.external_id}/status/")
    assert body.status_code == 200
    data = body.json()
    assert data["score"]["forecast"]["next_tier"]["name"] == "Gold"
    assert data["score"]["forecast"]["on_pace_for_upgrade"] is True
    assert data["forecast_sentences"][0].startswith("At your pace of the last 90 days you reach Gold around")


def test_another_tenants_key_cannot_read_the_forecast(forecast_world: World, globex: World) -> None:
    _key, token = make_key(globex)
    response = api_client(globex, token).get(f"/api/v1/partners/{forecast_world.partner.external_id}/status/")
    assert response.status_code == 404
    assert "forecast" not in response.content.decode()


def test_worklist_flags_on_pace_and_at_risk_by_roll_off(forecast_world: World, client_for) -> None:
    page = client_for(forecast_world, forecast_world.manager).get("/portfolio/").content.decode()
    assert page.count("On pace for upgrade") >= 1
    rows = client_for(forecast_world, forecast_world.manager).get("/portfolio/?flag=on_pace").context["page"]
    assert [row.partner.name for row in rows] == [forecast_world.partner.name]
    # The unmanaged partner holds Silver on 45,000 sold 300 days ago: it leaves within ~65 days, no pace.
    rows = client_for(forecast_world, forecast_world.manager).get("/portfolio/?flag=rolloff_risk").context["page"]
    assert [row.partner.name for row in rows] == [forecast_world.unmanaged_partner.name]
    csv = client_for(forecast_world, forecast_world.manager).get("/portfolio/csv/?flag=rolloff_risk")
    header, line = csv.content.decode().splitlines()[:2]
    assert header.endswith("On pace for an upgrade,At risk by roll-off")  # headers in the reader's language
    assert line.endswith("no,yes")


def test_an_account_manager_sees_only_their_partners_flags(forecast_world: World, client_for) -> None:
    rows = client_for(forecast_world, forecast_world.account_manager).get("/portfolio/?flag=rolloff_risk")
    assert list(rows.context["page"]) == []  # the partner at risk by roll-off is not theirs


@pytest.mark.parametrize("who", ["partner_user", "partner_admin", "outsider", "globex"])
def test_partner_members_outsiders_and_other_tenants_get_no_worklist(
    forecast_world: World, globex: World, outsider, client_for, who: str
) -> None:
    if who == "outsider":
        client = client_for(forecast_world, outsider)
    elif who == "globex":
        client = client_for(forecast_world, globex.manager)
    else:
        client = client_for(forecast_world, getattr(forecast_world, who))
    response = client.get("/portfolio/?flag=on_pace")
    assert response.status_code in (302, 403)
    assert "On pace for upgrade" not in response.content.decode()


def test_another_tenants_partner_sees_none_of_this_forecast(forecast_world: World, globex: World, client_for) -> None:
    page = client_for(forecast_world, globex.partner_user).get("/")
    assert page.status_code in (302, 403)
    other = client_for(globex, globex.partner_user).get("/").content.decode()
    assert "Where your pace takes you" not in other  # globex has no program: no score, no forecast
