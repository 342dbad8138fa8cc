"""The nightly scoring in SQL: a chunk's metric values, track scores, best track, qualified tier, breakdown and gaps
in one set-based statement, kept in a temporary table and written with `INSERT … SELECT`.

The engine (tiers/engine.py) stays the reference: instant re-scores, simulations and SQLite run it, and
tests/tiers/test_sql_scoring_property.py checks that both give the same score, track, tier, breakdown and gaps to
the cent on random scorecards and populations. The arithmetic is the engine's, in the same order:
contribution = weight · min(value / target, cap) / Σ weight · 100, summed, rounded half-up to the cent; divisions
keep 30 decimals where Python's Decimal keeps 28 significant digits. Shown values round half-even to the cent (as
`Decimal.quantize` does), contributions and scores half-up.

What stays in Python, for the whole chunk at once: building the statement from the scorecard (a few dozen
expressions, whatever the chunk size), and metrics that are not activity aggregates (points earned, and what other
apps add through `settings.TIERLINE_METRIC_SOURCES`): their set-based queries run as before and their values join
the statement as arrays. The tier decisions (pins, grace, downgrade policy) and the forecasts read back the light
columns (scores, tiers, metric values) and run per chunk in Python (tiers/services.py, tiers/forecasts.py).
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import msgspec
from django.db import connection

from tiers.engine import (
    COUNT_METRICS,
    GAP_SNAP_PLACES,
    Evaluation,
    LoadedCriterion,
    LoadedPathway,
    LoadedTier,
    Scorecard,
)
from tiers.metrics import (
    ACTIVITY_MEASURES,
    BY_WINDOW,
    REGISTRY,
    MetricSpecKey,
    Window,
    activity_measures_queryset,
    measure_column,
    metric_sources,
)

SCALE = 30  # decimals kept by a division
TABLE = "tiers_chunk_scores"  # the temporary table of a chunk's scores (dropped at the end of the chunk)


def _number(value: Decimal) -> str:
    """A Decimal as an SQL numeric literal with its own scale (`300000.00`): never text from a user."""
    return f"{Decimal(value):f}::numeric"


def _cents_half_even(expression: str) -> str:
    """`Decimal.quantize(CENT)` (half-even) of a non-negative numeric, as text."""
    hundredths = f"abs({expression}) * 100"
    return (
        f"round(CASE WHEN {hundredths} - trunc({hundredths}) = 0.5 AND mod(trunc({hundredths}), 2) = 0 "
        f"THEN sign({expression}) * trunc({hundredths}) * 0.01 ELSE round({expression}, 2) END, 2)::text"
    )


@dataclass(frozen=True)
class _Plan:
    """The scorecard as SQL: the metric value columns (`v0`, `v1`, …) and the constants the JSON reuses."""

    specs: list[MetricSpecKey]
    constants: dict

    def value(self, spec: MetricSpecKey) -> str:
        return f"v{self.specs.index(spec)}"


def _constants(scorecard: Scorecard) -> dict:
    """Every text of the output (labels, names) travels in one JSON parameter, never in the SQL's text."""
    return {
        "criteria": {str(c.id): c.constants for p in scorecard.pathways for c in p.criteria},
        "gaps": {
            str(c.id): {"criterion": c.id, "label": c.label, "metric": c.spec[0]}
            for p in scorecard.pathways
            for c in p.criteria
        },
        "tracks": {str(p.id): {"pathway": p.id, "name": p.name} for p in scorecard.pathways},
        "tiers": {
            str(t.id): {"id": t.id, "name": t.name, "minimum_score": str(t.minimum_score)} for t in scorecard.tiers
        },
        "gates": {
            f"{t.id}.{n}": {"label": g.label, "metric": g.spec[0], "kind": g.spec[1], "minimum": str(g.minimum)}
            for t in scorecard.tiers
            for n, g in enumerate(t.gates)
        },
    }


def _ratio(plan: _Plan, criterion: LoadedCriterion) -> str:
    return (
        f"LEAST(round({plan.value(criterion.spec)}, {SCALE}) / {_number(criterion.target)}, {_number(criterion.cap)})"
    )


def _contribution(plan: _Plan, criterion: LoadedCriterion, pathway: LoadedPathway) -> str:
    return f"({_number(criterion.weight)} * {_ratio(plan, criterion)} / {_number(pathway.total_weight)} * 100)"


def _exact(plan: _Plan, pathway: LoadedPathway) -> str:
    if not pathway.criteria:
        return "0::numeric"
    return "(" + " + ".join(_contribution(plan, criterion, pathway) for criterion in pathway.criteria) + ")"


def _admits(pathway: LoadedPathway) -> str:
    if not pathway.partner_type_ids:
        return "true"
    return f"partner_type_id IN ({', '.join(str(int(pk)) for pk in sorted(pathway.partner_type_ids))})"


def _gates_met(plan: _Plan, tier: LoadedTier) -> str:
    return " AND ".join([f"{plan.value(gate.spec)} >= {_number(gate.minimum)}" for gate in tier.gates] or ["true"])


def _breakdown(plan: _Plan, pathway: LoadedPathway) -> str:
    items = [
        f"(k.c -> 'criteria' -> '{criterion.id}') || jsonb_build_object("
        f"'value', {_cents_half_even(plan.value(criterion.spec))}, "
        f"'contribution', round({_contribution(plan, criterion, pathway)}, 2)::text)"
        for criterion in pathway.criteria
    ]
    return f"jsonb_build_array({', '.join(items)})"


def _criterion_gap(plan: _Plan, criterion: LoadedCriterion, pathway: LoadedPathway) -> str:
    """`engine.criterion_gap`: the smallest increase of this criterion alone that adds `exact_needed` of score."""
    value = plan.value(criterion.spec)
    needed = (
        f"({_ratio(plan, criterion)} + exact_needed * {_number(pathway.total_weight)} "
        f"/ (100 * {_number(criterion.weight)}))"
    )
    increase = f"({needed} * {_number(criterion.target)} - {value})"
    # Rounded to GAP_SNAP_PLACES before the ceiling, as the engine does (half away from zero in both).
    if criterion.spec[0] in COUNT_METRICS:
        rounded = f"GREATEST(1, ceil(round({increase}, {GAP_SNAP_PLACES})))::text"
    else:
        rounded = f"GREATEST(0.01, ceil(round({increase} * 100, {GAP_SNAP_PLACES})) * 0.01)::text"
    constants = f"(k.c -> 'gaps' -> '{criterion.id}')"
    return (
        f"CASE WHEN {needed} > {_number(criterion.cap)} THEN {constants} || '{{\"alone\": false}}'::jsonb "
        f"ELSE {constants} || jsonb_build_object('alone', true, 'increase', {rounded}) END"
    )


def _unmet_gates(plan: _Plan, tier: LoadedTier) -> str:
    if not tier.gates:
        return "'[]'::jsonb"
    rows = []
    for number, gate in enumerate(tier.gates):
        value = plan.value(gate.spec)
        minimum = _number(gate.minimum)
        rows.append(
            f"({number}, CASE WHEN {value} < {minimum} THEN (k.c -> 'gates' -> '{tier.id}.{number}') || "
            f"jsonb_build_object('value', {_cents_half_even(value)}, "
            f"'shortfall', {_cents_half_even(f'({minimum} - {value})')}) END)"
        )
    # Numbers and ids only: every text is in the constants parameter.
    values = ", ".join(rows)
    return f"(SELECT COALESCE(jsonb_agg(gate ORDER BY number), '[]'::jsonb) FROM (VALUES {values}) AS gates(number, gate) WHERE gate IS NOT NULL)"  # noqa: E501, S608


def _case(subject: str, branches: list[tuple[str, str]], otherwise: str = "NULL") -> str:
    if not branches:
        return otherwise
    whens = " ".join(f"WHEN {condition} THEN {result}" for condition, result in branches)
    return f"CASE {subject} {whens} ELSE {otherwise} END"


def scoring_query(*, scorecard: Scorecard, partners: list[tuple[int, int]], window: Window) -> tuple[str, list]:
    """The chunk's scores as one SELECT: partner_id, pathway_id, score, qualified_tier_id, breakdown, gaps and
    the metric values in `specs` order (`values`), one row per partner of `partners` (id, partner type id)."""
    specs = list(dict.fromkeys(scorecard.specs()))
    plan = _Plan(specs=specs, constants=_constants(scorecard))
    partner_ids = [partner_id for partner_id, _type in partners]
    params: list = [msgspec.json.encode(plan.constants).decode(), partner_ids, [type_id for _id, type_id in partners]]
    activity_specs = [spec for spec in specs if spec[0] in ACTIVITY_MEASURES]
    values = {spec: [] for spec in specs}
    activity_sql = ""
    if activity_specs and partner_ids:
        queryset, measures = activity_measures_queryset(specs=activity_specs, partner_ids=partner_ids, windows=[window])
        activity_sql, activity_params = queryset.query.sql_with_params()
        params.extend(activity_params)
        for index, (spec, measure) in enumerate(measures[0].items()):
            columns = [f'a."{measure_column(0, index, position)}"' for position in range(len(measure.aggregates))]
            values[spec].append(measure.sql(*columns))
    # Metrics of their own query (points earned) and other apps' sources: set-based as before, joined as arrays.
    external_spec, external_partner, external_value = [], [], []
    for number, spec in enumerate(specs):
        measured = []
        if spec[0] not in ACTIVITY_MEASURES:
            if spec[0] in BY_WINDOW:
                measured.append(BY_WINDOW[spec[0]](partner_ids, [window])[0])
            else:
                measured.append(REGISTRY[spec[0]](partner_ids, window, spec[1], spec[2]))
        measured.extend(source(partner_ids=partner_ids, windows=[window])[0] for source in metric_sources(spec[0]))
        for by_partner in measured:
            for partner_id, value in by_partner.items():
                external_spec.append(number)
                external_partner.append(partner_id)
                external_value.append(value)
        if measured:
            values[spec].append(f"COALESCE(e.e{number}, 0)")
    params.extend([external_spec, external_partner, external_value])
    value_columns = ", ".join(f"({' + '.join(values[spec]) or '0'})::numeric AS {plan.value(spec)}" for spec in specs)
    external_columns = ", ".join(
        f"sum(value) FILTER (WHERE spec = {number}) AS e{number}" for number in range(len(specs))
    )
    pathways = scorecard.pathways
    track_columns = ", ".join(
        f"{_exact(plan, pathway)} AS exact_{pathway.id}, {_admits(pathway)} AS admits_{pathway.id}"
        for pathway in pathways
    )
    # Per track: id, admitted, score, exact score, the score as the gaps show it (a track with no criteria: "0").
    track_rows = ", ".join(
        f"({pathway.id}, admits_{pathway.id}, round(exact_{pathway.id}, 2), exact_{pathway.id}, "
        + (f"round(exact_{pathway.id}, 2)::text)" if pathway.criteria else "'0')")
        for pathway in pathways
    )
    tiers = scorecard.tiers
    qualified = _case(
        "",
        [
            (f"score >= {_number(tier.minimum_score)} AND {_gates_met(plan, tier)}", str(tier.id))
            for tier in reversed(tiers)
        ],
    )
    # A partner qualified for no tier aims at the lowest; the highest has no next tier.
    next_tier = (
        f"CASE WHEN qualified_tier_id IS NULL THEN {tiers[0].id if tiers else 'NULL'} "
        + " ".join(
            f"WHEN qualified_tier_id = {lower.id} THEN {higher.id}"
            for lower, higher in zip(tiers, tiers[1:], strict=False)
        )
        + " END"
    )
    next_minimum = _case("next_tier_id", [(str(tier.id), _number(tier.minimum_score)) for tier in tiers])
    breakdown = _case(
        "pathway_id",
        [(str(pathway.id), _breakdown(plan, pathway)) for pathway in pathways if pathway.criteria],
        "'[]'::jsonb",
    )
    criteria_gaps = _case(
        "pathway_id",
        [
            (
                str(pathway.id),
                f"jsonb_build_array({', '.join(_criterion_gap(plan, c, pathway) for c in pathway.criteria)})",
            )
            for pathway in pathways
            if pathway.criteria
        ],
        "'[]'::jsonb",
    )
    unmet = _case("next_tier_id", [(str(tier.id), _unmet_gates(plan, tier)) for tier in tiers], "'[]'::jsonb")
    all_values = ", ".join(plan.value(spec) for spec in specs)
    activity_join = f"LEFT JOIN ({activity_sql}) AS a ON a.partner_id = chunk.partner_id" if activity_sql else ""
    sql = f"""
WITH k AS (SELECT %s::jsonb AS c),
chunk AS (SELECT * FROM unnest(%s::integer[], %s::integer[]) AS chunk(partner_id, partner_type_id)),
measured AS MATERIALIZED (
    SELECT chunk.partner_id, chunk.partner_type_id{", " + value_columns if specs else ""}
    FROM chunk {activity_join}
    LEFT JOIN (
        SELECT partner_id{", " + external_columns if specs else ""}
        FROM unnest(%s::integer[], %s::integer[], %s::numeric[]) AS external(spec, partner_id, value)
        GROUP BY partner_id
    ) AS e ON e.partner_id = chunk.partner_id
),
tracked AS MATERIALIZED (SELECT measured.*{", " + track_columns if pathways else ""} FROM measured),
best AS (
    SELECT tracked.*, track.pathway_id, COALESCE(track.score, 0) AS score, COALESCE(track.exact, 0) AS exact,
           tracks.list AS tracks
    FROM tracked
    LEFT JOIN LATERAL (
        SELECT id AS pathway_id, score, exact FROM (VALUES {track_rows or "(NULL::integer, false, 0, 0, NULL)"})
            AS track(id, admits, score, exact, shown)
        WHERE admits ORDER BY score DESC, id LIMIT 1
    ) AS track ON true
    CROSS JOIN LATERAL (
        SELECT COALESCE(jsonb_agg(jsonb_build_object('score', shown) || ((SELECT c FROM k) -> 'tracks' -> id::text)
                                  ORDER BY id), '[]'::jsonb) AS list
        FROM (VALUES {track_rows or "(NULL::integer, false, 0, 0, NULL)"}) AS track(id, admits, score, exact, shown)
        WHERE admits
    ) AS tracks
),
qualified AS (SELECT best.*, {qualified} AS qualified_tier_id FROM best),
aimed AS (SELECT qualified.*, {next_tier} AS next_tier_id FROM qualified),
needed AS MATERIALIZED (
    SELECT aimed.*, {next_minimum} - score AS score_needed,
           GREATEST(0, {next_minimum} - 0.005 - exact) AS exact_needed
    FROM aimed
)
SELECT partner_id, pathway_id, score, qualified_tier_id,
       {breakdown} AS breakdown,
       CASE WHEN pathway_id IS NULL THEN '{{"tracks": []}}'::jsonb
            WHEN next_tier_id IS NULL THEN jsonb_build_object('tracks', tracks)
            ELSE jsonb_build_object(
                'tracks', tracks,
                'next_tier', k.c -> 'tiers' -> next_tier_id::text,
                'score_needed', CASE WHEN score_needed > 0 THEN score_needed::text ELSE '0' END,
                'criteria', CASE WHEN score_needed > 0 THEN {criteria_gaps} ELSE '[]'::jsonb END,
                'gates', {unmet}
            ) END AS gaps,
       ARRAY[{all_values}]::numeric[] AS metric_values
FROM needed CROSS JOIN k
"""  # noqa: S608 - the scorecard's numbers and ids only; every text and every partner's value is a parameter
    return sql, params


def scores_compute(*, scorecard: Scorecard, partners: list[tuple[int, int]], window: Window) -> dict[int, Evaluation]:
    """The chunk's evaluations as the engine returns them (breakdown and gaps included), computed in SQL: for
    comparisons and diagnostics; the nightly run keeps them in the database (`chunk_score`)."""
    sql, params = scoring_query(scorecard=scorecard, partners=partners, window=window)
    specs = list(dict.fromkeys(scorecard.specs()))
    results = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for partner_id, pathway_id, score, tier_id, breakdown, gaps, values in cursor.fetchall():
            results[partner_id] = Evaluation(
                partner_id,
                pathway_id,
                score,
                scorecard.tier_by_id(tier_id) if tier_id else None,
                _json(breakdown),
                _json(gaps),
                dict(zip(specs, values, strict=True)),
            )
    return results


def _json(value: object) -> object:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def chunk_score(*, scorecard: Scorecard, partners: list[tuple[int, int]], window: Window) -> dict[int, Evaluation]:
    """Score a chunk into the temporary table `TABLE` (breakdown and gaps stay there) and return what the tier
    decisions and the forecasts read: each partner's track, score, qualified tier, metric values and the
    criteria part of its gaps. `chunk_scores_insert` writes the rows; the table goes with the transaction."""
    sql, params = scoring_query(scorecard=scorecard, partners=partners, window=window)
    specs = list(dict.fromkeys(scorecard.specs()))
    results = {}
    with connection.cursor() as cursor:
        # The planner overestimates the chunk's rows (unnest, the outer joins) and compiles the statement's
        # hundreds of expressions with JIT: 10 s of compiling for 1 s of work at 5,000 partners (EXPLAIN ANALYZE).
        cursor.execute("SET LOCAL jit = off")
        # Built from the scorecard's numbers and ids; every text and every partner's value is a parameter.
        cursor.execute(f"CREATE TEMPORARY TABLE {TABLE} ON COMMIT DROP AS {sql}", params)  # noqa: S608
        cursor.execute(
            f"SELECT partner_id, pathway_id, score, qualified_tier_id, gaps -> 'criteria', metric_values FROM {TABLE}"  # noqa: S608
        )
        for partner_id, pathway_id, score, tier_id, criteria, values in cursor.fetchall():
            results[partner_id] = Evaluation(
                partner_id,
                pathway_id,
                score,
                scorecard.tier_by_id(tier_id) if tier_id else None,
                [],
                {"criteria": _json(criteria)} if criteria is not None else {},
                dict(zip(specs, values, strict=True)),
            )
    return results


def chunk_scores_insert(
    *,
    scorecard: Scorecard,
    tier_ids: dict[int, int | None],
    forecasts: dict[int, dict],
    evaluated_on: date,
    source: str,
    run_id: int | None,
    now: datetime,
    tenant_id: int,
) -> dict[int, int]:
    """`INSERT … SELECT` the chunk's scores from the temporary table, with each partner's decided tier and
    forecast, skipping those already written; partner id → id of the rows written. The table is dropped."""
    partner_ids = list(tier_ids)
    encode = msgspec.json.Encoder().encode
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO tiers_partnerscore
                (tenant_id, partner_id, evaluated_on, source, tier_model_id, pathway_id, score, qualified_tier_id,
                 tier_id, breakdown, gaps, forecast, run_id, computed_at)
            SELECT %s, scored.partner_id, %s, %s, %s, scored.pathway_id, scored.score, scored.qualified_tier_id,
                   decided.tier_id, scored.breakdown, scored.gaps, decided.forecast, %s, %s
            FROM {TABLE} AS scored
            JOIN unnest(%s::integer[], %s::integer[], %s::jsonb[]) AS decided(partner_id, tier_id, forecast)
                USING (partner_id)
            ON CONFLICT DO NOTHING RETURNING partner_id, id
            """,  # noqa: S608 - the table name is a constant
            [
                tenant_id,
                evaluated_on,
                source,
                scorecard.model.pk,
                run_id,
                now,
                partner_ids,
                [tier_ids[partner_id] for partner_id in partner_ids],
                [encode(forecasts[partner_id]).decode() for partner_id in partner_ids],
            ],
        )
        inserted = dict(cursor.fetchall())
        cursor.execute(f"DROP TABLE {TABLE}")
    return inserted
