"""Issue 17, item 16: what staff type is read in the reader's language, and what the system says is stored as a code.

Before: a Spanish partner read "Con 12.195 US$ más en ventas alcanza Gold.", "Revenue" under a Spanish heading and
"Cancelled by the partner." in a Spanish statement; the worklist CSV had English headers over Spanish values.
"""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

import imports.ingest
from imports.ingest import activities_ingest
from loyalty.reasons import CodedReason, memo_shown, reason_shown
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry
from loyalty.translations import translations_cleaned
from partners.models import ActivityStatusChange
from rewards.models import RedemptionEvent, Reward
from tests.conftest import World
from tests.i18n.test_spanish_pages import spanish, speaks  # noqa: F401 - the fixture
from tests.rewards.factories import RewardFactory
from tests.rewards.test_redemption import in_status
from tests.tiers.factories import revenue_program
from tiers.models import Criterion, Tier, TierBenefit
from tiers.services import tier_model_draft_save, tier_model_draft_start
from tiers.validation import BenefitDraft, CriterionDraft, TierDraft

PAGE = "/program/translations/"


def translate(world: World, model: type, spanish_texts: dict[str, dict[str, str]], field: str) -> None:
    """Give rows of `model` (found by their program text in `field`) Spanish translations."""
    with tenant_context(world.tenant):
        for source, fields in spanish_texts.items():
            model.objects.filter(**{field: source}).update(translations={"es": fields})


def test_a_spanish_reader_reads_translated_tier_and_criterion_names_and_the_rest_falls_back(
    spanish: World,  # noqa: F811 - the fixture
    client_for,
) -> None:
    translate(spanish, Tier, {"Gold": {"name": "Oro"}}, "name")
    translate(spanish, Criterion, {"Revenue": {"label": "Ingresos"}}, "label")

    response = client_for(spanish, spanish.partner_admin).get("/")

    page = response.content.decode()
    assert response.context["gap"] == "Con 12.195\xa0US$ más en ventas alcanza Oro."
    assert "Puntuación 52,80 de los 65,00 que requiere Oro" in page
    assert [row["label"] for row in response.context["criteria"]] == ["Ingresos"]
    assert "<h2>Silver</h2>" in page  # no translation: the program's text
    speaks(spanish.partner_admin, "en")
    english = client_for(spanish, spanish.partner_admin).get("/")
    assert english.context["gap"] == "$12,195 more in sales reaches Gold."
    assert [row["label"] for row in english.context["criteria"]] == ["Revenue"]


def test_the_catalogue_and_a_redemption_name_the_reward_in_the_readers_language(
    spanish: World,  # noqa: F811 - the fixture
    client_for,
) -> None:
    with tenant_context(spanish.tenant):
        RewardFactory(name="Coffee mug", description="Ceramic", translations={"es": {"name": "Taza de café"}})

    page = client_for(spanish, spanish.partner_admin).get("/rewards/").content.decode()

    assert "<h2>Taza de café</h2>" in page
    assert "<p>Ceramic</p>" in page  # the description has no Spanish: the program's


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"fr": {"name": "Or"}}, "fr is not a language of the product."),
        ({"es": {"rank": "1"}}, "rank cannot be translated."),
        ({"es": {"name": "O\x00ro"}}, "Null characters are not allowed."),
        ({"es": {"name": "x" * 101}}, "A translation has at most 100 characters."),
        (["Oro"], 'Give the translations by language code, e.g. {"es": {…}}.'),
    ],
)
def test_translations_refuse_unknown_languages_fields_nul_and_overlong_text(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        translations_cleaned(Tier, value)
    assert refused.value.message_dict == {"translations": [message]}


def test_translations_are_stripped_and_empty_ones_dropped() -> None:
    assert translations_cleaned(Tier, {"es": {"name": "  Oro "}, "en": {"name": " "}}) == {"es": {"name": "Oro"}}


def test_a_system_reason_is_stored_as_a_code_with_english_text_and_read_in_the_readers_language() -> None:
    reason = CodedReason("protected", days=90, date=date(2027, 1, 4))

    assert (str(reason), reason.code, reason.params) == (
        "Protected for 90 days, until 2027-01-04.",
        "protected",
        {"days": 90, "date": "2027-01-04"},
    )
    assert reason.strip() is reason  # services strip reasons: the code survives
    with translation.override("es"):
        assert reason_shown(str(reason), reason.code, reason.params) == (
            "Protegida durante 90 días, hasta el 4 de enero de 2027."
        )
        assert reason_shown("Fraud", "", None) == "Fraud"  # a person's words, as typed
        assert memo_shown("Cancelled by the partner.") == "Cancelado por el socio."
        assert memo_shown("Fraud (70 points already spent could not be recovered)") == (
            "Fraud (no se pudieron recuperar 70 puntos ya gastados)"
        )
        assert memo_shown("Cancelled by the partner, twice.") == "Cancelled by the partner, twice."


def test_a_cancelled_redemption_keeps_the_code_and_a_spanish_statement_says_it_in_spanish(
    acme: World, client_for
) -> None:
    with tenant_context(acme.tenant):
        redemption = in_status(acme, "cancelled")
        event = RedemptionEvent.objects.get(redemption=redemption, to_status="cancelled")
    assert (event.reason, event.reason_code) == ("Cancelled by the partner.", "cancelled_by_partner")
    speaks(acme.partner_admin, "es")

    statement = client_for(acme, acme.partner_admin).get("/statement/").content.decode()

    assert ": Cancelado por el socio." in statement
    assert "Cancelled by the partner." not in statement


@pytest.mark.parametrize("staged_by_copy", [True, False])
def test_recorded_activities_carry_the_reason_code_in_both_ingestion_paths(
    acme: World, monkeypatch, staged_by_copy: bool
) -> None:
    monkeypatch.setattr(imports.ingest, "COPY_INGESTION", staged_by_copy)
    with tenant_context(acme.tenant):
        activities_ingest(
            rows=[
                {
                    "partner": acme.partner.external_id,
                    "kind": "training",
                    "occurred_at": "2026-11-02T10:00:00Z",
                    "external_id": "lms-1",
                }
            ],
            source="csv",
            actor=None,
            approve=False,
        )
        change = ActivityStatusChange.objects.get(activity__external_id="lms-1")
    assert (change.reason, change.reason_code, change.reason_params) == (
        "Recorded (csv)",
        "recorded_from",
        {"source": "csv"},
    )
    with translation.override("es"):
        assert change.reason_shown == "Registrada (csv)"


def test_a_copied_draft_keeps_translations_and_a_changed_text_is_translated_anew(acme: World) -> None:
    with tenant_context(acme.tenant):
        program = revenue_program()
        gold = program.tiers["Gold"]
        Tier.objects.filter(pk=gold.pk).update(translations={"es": {"name": "Oro"}})
        TierBenefit.objects.create(tier=gold, kind="text", text="Lead sharing", translations={"es": {"text": "Leads"}})
        TierBenefit.objects.create(tier=gold, kind="text", text="Swag", translations={"es": {"text": "Regalos"}})
        program.model.status = "active"
        program.model.save(update_fields=["status"])

        draft = tier_model_draft_start(source=program.model)
        tiers = list(draft.tiers.order_by("rank"))
        assert [tier.translations for tier in tiers if tier.name == "Gold"] == [{"es": {"name": "Oro"}}]

        typed = [
            TierDraft(
                id=tier.pk,
                name="Golden" if tier.name == "Gold" else tier.name,
                minimum_score=tier.minimum_score,
                point_multiplier=tier.point_multiplier,
                colour=tier.colour,
                benefits=(
                    BenefitDraft("text", None, "", "Lead sharing"),
                    BenefitDraft("text", None, "", "Swag bag"),
                )
                if tier.name == "Gold"
                else (),
            )
            for tier in tiers
        ]
        criterion = Criterion.objects.get(pathway__model=draft)
        tier_model_draft_save(
            model=draft,
            tiers=typed,
            criteria=[CriterionDraft(criterion.pk, criterion.weight, criterion.target, criterion.cap)],
        )
        golden = Tier.objects.get(model=draft, name="Golden")
        benefits = dict(TierBenefit.objects.filter(tier=golden).values_list("text", "translations"))

    assert golden.translations == {}  # renamed: "Oro" no longer says it
    assert benefits == {"Lead sharing": {"es": {"text": "Leads"}}, "Swag bag": {}}


def test_the_translations_page_is_for_program_managers_and_owners_only(acme: World, globex: World, client_for) -> None:
    for role_user in (acme.partner_admin, acme.partner_user, acme.account_manager):
        assert client_for(acme, role_user).get(PAGE).status_code == 403
    assert client_for(acme, globex.manager).get(PAGE).status_code == 403  # another program's manager
    assert client_for(acme, acme.manager).get(PAGE).status_code == 200


def test_program_staff_translate_a_reward_once_and_the_audit_log_says_so(
    acme: World, globex: World, client_for
) -> None:
    with tenant_context(acme.tenant):
        mug = RewardFactory(name="Coffee mug", description="")
    with tenant_context(globex.tenant):
        RewardFactory(name="Globex secret prize")
    client = client_for(acme, acme.manager)

    page = client.get(PAGE)
    key = f"reward-{mug.pk}-name-es"
    assert key in page.context["form"].fields
    assert "Globex secret prize" not in page.content.decode()

    saved = client.post(PAGE, {key: "Taza de café"}, follow=True)
    again = client.post(PAGE, {key: "Taza de café"}, follow=True)  # reload after the post, a second tab

    assert "Translations of 1 text saved." in saved.content.decode()
    assert "Nothing changed." in again.content.decode()
    with tenant_context(acme.tenant):
        assert Reward.objects.get(pk=mug.pk).translations == {"es": {"name": "Taza de café"}}
        entries = list(AuditEntry.objects.filter(summary__startswith="Translated"))
    assert [entry.changes for entry in entries] == [{f"rewards.reward:{mug.pk}": {"es": {"name": "Taza de café"}}}]


@pytest.mark.parametrize("text", ["x" * 201, "Ta\x00za"])
def test_a_bad_translation_is_a_field_error_and_nothing_is_saved(acme: World, client_for, text: str) -> None:
    with tenant_context(acme.tenant):
        mug = RewardFactory(name="Coffee mug")
        rule_free = Reward.objects.get(pk=mug.pk).translations
    client = client_for(acme, acme.manager)

    response = client.post(PAGE, {f"reward-{mug.pk}-name-es": text, f"reward-{mug.pk}-description-es": "Bien"})

    assert response.status_code == 400
    assert response.context["form"].errors[f"reward-{mug.pk}-name-es"]
    with tenant_context(acme.tenant):
        assert Reward.objects.get(pk=mug.pk).translations == rule_free


def test_the_translations_page_costs_the_same_queries_for_many_rewards(
    acme: World, client_for, django_assert_max_num_queries
) -> None:
    client = client_for(acme, acme.manager)
    with tenant_context(acme.tenant):
        RewardFactory.create_batch(2)
    with django_assert_max_num_queries(30) as few:
        client.get(PAGE)
    with tenant_context(acme.tenant):
        RewardFactory.create_batch(30)
    with django_assert_max_num_queries(30) as many:
        client.get(PAGE)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_worklist_csv_speaks_the_readers_language(spanish: World, client_for) -> None:  # noqa: F811
    speaks(spanish.manager, "es")

    response = client_for(spanish, spanish.manager).get("/portfolio/csv/")

    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:5] == ["Socio", "Id externo", "Tipo de socio", "Gerente de cuenta", "Nivel"]
    assert {row[11] for row in rows[1:]} <= {"sí", "no"}
    assert Decimal(rows[1][5]) >= 0


def test_a_saved_translation_shows_at_once_on_a_cached_dashboard(
    spanish: World,  # noqa: F811 - the fixture
    client_for,
    django_capture_on_commit_callbacks,
) -> None:
    reader = client_for(spanish, spanish.partner_admin)
    assert "Puntuación 52,80 de los 65,00 que requiere Gold" in reader.get("/").content.decode()  # now cached
    with tenant_context(spanish.tenant):
        gold = Tier.objects.get(name="Gold", model__status="active")

    with django_capture_on_commit_callbacks(execute=True):  # the version moves once the words are committed
        client_for(spanish, spanish.manager).post(PAGE, {f"tier-{gold.pk}-name-es": "Oro"})

    page = reader.get("/").content.decode()
    assert "Puntuación 52,80 de los 65,00 que requiere Oro" in page
    assert "Con 12.195\xa0US$ más en ventas alcanza Oro." in page
