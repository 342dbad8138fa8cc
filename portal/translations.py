"""Program content in other languages: one page where program staff translate what they typed (issue 17, item 16).

Tier names, benefits, gates, pathways and criteria of a tier model (translations are words, not rules: a published
model's can be corrected without publishing again), and the rewards and earning rules partners read. Each text
is shown in the program's language beside an input per other language; an empty input falls back to it.
"""

from dataclasses import dataclass

from babel import Locale
from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext, to_locale

from earning.models import EarningRule
from loyalty.tenancy.models import AuditEntry, Role
from loyalty.tenancy.permissions import membership_required
from loyalty.tenancy.services import audit_record
from loyalty.translations import Translatable, content_changed, language_names, translations_cleaned
from rewards.models import Reward
from tiers.models import TierModel
from tiers.services import tier_model_for

TRANSLATORS = (Role.PROGRAM_MANAGER, Role.OWNER)
# Long texts (a reward's description) get a text area of this many characters at most.
LONG_TEXT_LIMIT = 2000


@dataclass
class Text:
    """One text staff typed: the row it belongs to, its field, and where it shows (e.g. "Gold · benefit")."""

    obj: Translatable
    field: str
    where: str

    @property
    def key(self) -> str:
        return f"{self.obj._meta.model_name}-{self.obj.pk}-{self.field}"

    @property
    def source(self) -> str:
        return getattr(self.obj, self.field)

    @property
    def limit(self) -> int:
        return self.obj._meta.get_field(self.field).max_length or LONG_TEXT_LIMIT


@dataclass
class Section:
    title: str
    texts: list[Text]


def _model_texts(model: TierModel) -> list[Section]:
    tiers = list(model.tiers.order_by("rank").prefetch_related("benefits", "gates"))
    pathways = list(model.pathways.order_by("pk").prefetch_related("criteria"))
    ladder = []
    for tier in tiers:
        ladder.append(Text(tier, "name", gettext("Tier")))
        of_tier = {"tier": tier.name}
        ladder += [
            Text(benefit, "text", gettext("Benefit of %(tier)s") % of_tier)
            for benefit in tier.benefits.all()
            if benefit.text
        ]
        ladder += [Text(gate, "label", gettext("Gate of %(tier)s") % of_tier) for gate in tier.gates.all()]
    scorecard = []
    for pathway in pathways:
        scorecard.append(Text(pathway, "name", gettext("Pathway")))
        where = gettext("Criterion of %(pathway)s") % {"pathway": pathway.name}
        scorecard += [
            Text(criterion, "label", where) for criterion in sorted(pathway.criteria.all(), key=lambda c: c.pk)
        ]
    return [Section(gettext("Tiers, benefits and gates"), ladder), Section(gettext("Pathways and criteria"), scorecard)]


def _catalog_texts() -> list[Section]:
    rewards = Reward.objects.exclude(status=Reward.Status.RETIRED).order_by("name", "pk")
    rules = EarningRule.objects.filter(is_active=True).order_by("name", "pk")
    reward_texts = []
    for reward in rewards:
        reward_texts.append(Text(reward, "name", gettext("Reward")))
        if reward.description:
            reward_texts.append(
                Text(reward, "description", gettext("Description of %(reward)s") % {"reward": reward.name})
            )
    rule_texts = [Text(rule, "name", gettext("Rule")) for rule in rules]
    return [
        Section(gettext("Rewards"), reward_texts),
        Section(gettext("Earning rules (named on statements)"), rule_texts),
    ]


class TranslationsForm(forms.Form):
    """One optional input per text and other language, filled with the saved translation."""

    def __init__(self, *args: object, texts: list[Text], languages: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.texts, self.languages = texts, languages
        for text in texts:
            saved = text.obj.translations or {}
            for code, name in languages.items():
                widget = forms.Textarea({"rows": 2}) if text.limit >= LONG_TEXT_LIMIT else forms.TextInput()
                self.fields[f"{text.key}-{code}"] = forms.CharField(
                    label=f"{text.source} ({name})",
                    required=False,
                    max_length=text.limit,
                    widget=widget,
                    initial=saved.get(code, {}).get(text.field, ""),
                )

    def rows(self) -> list[tuple[Text, list[tuple[str, forms.BoundField]]]]:
        """Each text with its (language name, input) pairs."""
        return [
            (text, [(name, self[f"{text.key}-{code}"]) for code, name in self.languages.items()]) for text in self.texts
        ]

    def changed_objects(self) -> list[Translatable]:
        """The rows whose translations the post changes, each holding its new `translations` (cleaned)."""
        typed: dict[int, tuple[Translatable, dict[str, dict[str, str]]]] = {}
        for text in self.texts:
            saved = {code: dict(fields) for code, fields in (text.obj.translations or {}).items()}
            _obj, value = typed.setdefault(id(text.obj), (text.obj, saved))
            for code in self.languages:
                value.setdefault(code, {})[text.field] = self.cleaned_data[f"{text.key}-{code}"]
        changed = []
        for obj, value in typed.values():
            cleaned = translations_cleaned(type(obj), value)
            if cleaned != (obj.translations or {}):
                obj.translations = cleaned
                changed.append(obj)
        return changed


def _models_offered() -> list[TierModel]:
    """The tier models whose words partners read now or may soon: in force, scheduled, drafts (newest first)."""
    return list(TierModel.objects.exclude(status=TierModel.Status.RETIRED).order_by("-version"))


@membership_required(*TRANSLATORS)
def translations_edit(request: HttpRequest) -> HttpResponse:
    """GET: every text of a tier model and the catalogue with its translations. POST: save the changed ones."""
    languages = {code: name for code, name in language_names().items() if code != request.tenant.language}
    models_offered = _models_offered()
    in_force = tier_model_for(evaluated_on=timezone.localdate())
    chosen = request.GET.get("model", "")
    model = next((m for m in models_offered if str(m.pk) == chosen), None) or in_force
    if model is None and models_offered:
        model = models_offered[0]
    sections = (_model_texts(model) if model else []) + _catalog_texts()
    texts = [text for section in sections for text in section.texts]
    form = TranslationsForm(request.POST or None, texts=texts, languages=languages)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changed = _save(request, form)
            if changed:
                messages.success(
                    request,
                    ngettext("Translations of %(count)s text saved.", "Translations of %(count)s texts saved.", changed)
                    % {"count": changed},
                )
            else:
                messages.info(request, gettext("Nothing changed."))
            return redirect(reverse("portal:translations") + (f"?model={model.pk}" if model else ""))
        status = 400
    context = {
        "form": form,
        "sections": [(section, [row for row in form.rows() if row[0] in section.texts]) for section in sections],
        "languages": languages,
        # In the reader's words ("inglés" in Spanish); the inputs keep each language's own name ("Español").
        "program_language": Locale.parse(to_locale(get_language())).languages.get(
            request.tenant.language, request.tenant.language
        ),
        "models_offered": models_offered,
        "model": model,
        "in_force": in_force,
    }
    return render(request, "portal/translations/edit.html", context, status=status)


@transaction.atomic
def _save(request: HttpRequest, form: TranslationsForm) -> int:
    """Write the changed rows' translations and say so in the audit log; the count of rows changed."""
    changed = form.changed_objects()
    for obj in changed:
        type(obj).objects.filter(pk=obj.pk).update(translations=obj.translations)
    if changed:
        tenant_id = request.tenant.pk
        transaction.on_commit(lambda: content_changed(tenant_id))
        audit_record(
            actor=request.user,
            action=AuditEntry.Action.CHANGE,
            summary=gettext("Translated %(count)s texts of the program.") % {"count": len(changed)},
            changes={f"{obj._meta.label_lower}:{obj.pk}": obj.translations for obj in changed},
            request=request,
        )
    return len(changed)
