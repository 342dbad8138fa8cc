"""A program to put load on, for bench/load.py and bench/redemption.py: partners with one member each, their first
evaluation (scores and tiers), points in the ledger, a catalog of rewards, and signed-in sessions.

Built on the scratch database that `scratch_django()` prepared, through the real services where the rows are
ledger or scores (tenant_evaluate, points_post_many) and bulk inserts elsewhere.
"""

import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.evaluation import as_owner, generate, log  # noqa: E402

CREDIT_BATCH = 2_000
# sku, kind, points cost, minimum tier rank, stock (None: unlimited), limit per partner per year, approval
CATALOG = [
    (f"RW-{index:02d}", kind, cost, rank, stock, limit, index % 7 == 6)
    for index, (kind, cost, rank, stock, limit) in enumerate(
        [
            ("gift_card", 500, None, None, 5),
            ("gift_card", 1_000, None, None, 5),
            ("merchandise", 800, None, 40, None),
            ("merchandise", 1_500, None, 25, None),
            ("merchandise", 2_500, 2, 15, None),
            ("merchandise", 4_000, None, None, 3),
            ("training", 3_000, None, None, None),
            ("training", 6_000, 3, 12, None),
            ("rebate_credit", 1_200, None, None, None),
            ("rebate_credit", 9_000, 3, None, None),
            ("mdf", 12_000, 3, None, None),
            ("mdf", 40_000, 4, None, None),
            ("experience", 7_000, 3, 20, None),
            ("experience", 20_000, 4, 10, None),
            ("travel", 60_000, 4, 4, None),
            ("gift_card", 300, None, None, 10),
            ("merchandise", 600, None, 200, None),
            ("merchandise", 900, 2, None, 2),
            ("training", 2_000, None, None, None),
            ("rebate_credit", 3_500, 2, None, None),
        ]
    )
]


@dataclass(frozen=True)
class Program:
    tenant: object
    members: list[tuple[int, int]]  # (user id, partner id), one per partner, in partner order
    reward_ids: list[int]


def program_build(*, partners: int, activities_per_partner: int, entries_per_partner: int) -> Program:
    """The tenant `bench` (host bench.localhost) with N scored partners, a member each, points and 20 rewards."""
    from django.utils import timezone

    from loyalty.ledger.models import EntryKind
    from loyalty.ledger.services import Credit, points_accounts_for, points_post_many
    from loyalty.tenancy.context import tenant_context
    from loyalty.tenancy.models import Membership, Role, User
    from partners.models import Partner
    from rewards.models import Reward
    from tiers.services import evaluation_chunk, tenant_evaluate

    log(f"generating {partners} partners × {activities_per_partner} activities")
    tenant, _activities = generate(partners=partners, per_partner=activities_per_partner)
    with tenant_context(tenant):
        today = timezone.localdate()
        log("first evaluation: scores and tiers")
        tenant_evaluate(evaluated_on=today, dispatch=lambda run, chunk: evaluation_chunk(run=run, partner_ids=chunk))
        partner_ids = list(Partner.objects.order_by("pk").values_list("pk", flat=True))
        users = User.objects.bulk_create(
            [User(email=f"member{index}@bench.test", password="!") for index in range(len(partner_ids))]  # noqa: S106 - unusable
        )
        Membership.objects.bulk_create(
            [
                Membership(tenant=tenant, user=user, partner_id=partner_id, role=Role.PARTNER_ADMIN)
                for user, partner_id in zip(users, partner_ids, strict=True)
            ]
        )
        log(f"{entries_per_partner} earn entries per partner")
        accounts = points_accounts_for(partner_ids=partner_ids)
        now = timezone.now()
        credits = [
            Credit(
                account_id=accounts[partner_id],
                kind=EntryKind.EARN,
                points=500 + 100 * (entry % 10),
                idempotency_key=f"bench:{partner_id}:{entry}",
                memo="Bench earnings",
                effective_at=now - timedelta(days=3 * (entries_per_partner - entry)),
            )
            for partner_id in partner_ids
            for entry in range(entries_per_partner)
        ]
        for start in range(0, len(credits), CREDIT_BATCH):
            points_post_many(credits=credits[start : start + CREDIT_BATCH])
        rewards = [
            Reward.objects.create(
                sku=sku,
                name=f"Reward {sku}",
                kind=kind,
                points_cost=cost,
                minimum_tier_rank=rank,
                stock=stock,
                limit_per_partner=limit,
                requires_approval=approval,
            )
            for sku, kind, cost, rank, stock, limit, approval in CATALOG
        ]
    as_owner("ANALYZE")
    return Program(
        tenant=tenant,
        members=[(user.pk, partner_id) for user, partner_id in zip(users, partner_ids, strict=True)],
        reward_ids=[reward.pk for reward in rewards],
    )


def sessions_create(*, user_ids: list[int]) -> list[str]:
    """A signed-in session per user, written to the session store as a login would: the cookies to send."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from loyalty.tenancy.models import User

    keys = []
    for user in User.objects.filter(pk__in=user_ids).order_by("pk"):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys
