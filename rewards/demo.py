"""Demo catalog: rewards of every kind across tiers, a code pool, one out of stock; redemptions in every state."""

from loyalty.tenancy.models import User
from partners.models import Partner
from rewards.models import Redemption, Reward
from rewards.services import (
    codes_load,
    partner_tier_rank,
    redemption_approve,
    redemption_cancel,
    redemption_fulfil,
    redemption_reject,
    reward_redeem,
)

CATALOG = (
    # sku, name, kind, points, minimum tier rank, stock, fulfilment, needs approval, description
    ("GC-AMZ-25", "Gift card, 25", "gift_card", 2500, None, None, "code_pool", False, "A digital gift card code."),
    ("GC-AMZ-100", "Gift card, 100", "gift_card", 9500, 2, None, "code_pool", False, "A digital gift card code."),
    ("MER-MUG", "Branded coffee mug", "merchandise", 1200, None, 40, "manual", False, "Ceramic, 350 ml."),
    ("MER-HOODIE", "Program hoodie", "merchandise", 4500, None, 25, "manual", False, "Organic cotton, unisex sizes."),
    ("MER-HEADSET", "Noise-cancelling headset", "merchandise", 28000, 3, 0, "manual", False, "Out until restocked."),
    ("MER-BACKPACK", "Laptop backpack", "merchandise", 9000, None, 15, "manual", False, "Fits 16-inch laptops."),
    ("TRN-PRO", "Professional certification voucher", "training", 15000, None, None, "manual", True, "One exam."),
    ("TRN-BOOTCAMP", "Three-day technical bootcamp seat", "training", 60000, 3, 12, "manual", True, "On site."),
    ("MDF-5K", "Co-marketing funds, 5,000", "mdf", 50000, 3, None, "credit_note", True, "Joint campaign funds."),
    ("MDF-20K", "Co-marketing funds, 20,000", "mdf", 190000, 4, None, "credit_note", True, "Joint campaign funds."),
    (
        "REB-1K",
        "Rebate credit, 1,000",
        "rebate_credit",
        10000,
        None,
        None,
        "credit_note",
        False,
        "On the next invoice.",
    ),
    ("REB-10K", "Rebate credit, 10,000", "rebate_credit", 95000, 3, None, "credit_note", True, "On the next invoice."),
    ("EXP-SUMMIT", "Partner summit pass", "experience", 80000, 3, 20, "manual", True, "Travel not included."),
    ("TRV-CLUB", "President's club trip", "travel", 250000, 4, 4, "manual", True, "Four nights for two."),
    ("EXP-DINNER", "Executive dinner", "experience", 30000, 4, 10, "manual", False, "With the vendor's leadership."),
)


# The catalogue's Spanish (name, description), as the program's staff typed it on the translations page.
SPANISH = {
    "GC-AMZ-25": ("Tarjeta regalo de 25 USD", "Un código de tarjeta regalo digital."),
    "GC-AMZ-100": ("Tarjeta regalo de 100 USD", "Un código de tarjeta regalo digital."),
    "MER-MUG": ("Taza de café con la marca", "Cerámica, 350 ml."),
    "MER-HOODIE": ("Sudadera del programa", "Algodón orgánico, tallas unisex."),
    "MER-HEADSET": ("Auriculares con cancelación de ruido", "Agotados hasta reponer existencias."),
    "MER-BACKPACK": ("Mochila para portátil", "Para portátiles de 16 pulgadas."),
    "TRN-PRO": ("Vale de certificación profesional", "Un examen."),
    "TRN-BOOTCAMP": ("Plaza en un bootcamp técnico de tres días", "Presencial."),
    "MDF-5K": ("Fondos de co-marketing, 5.000", "Fondos para campañas conjuntas."),
    "MDF-20K": ("Fondos de co-marketing, 20.000", "Fondos para campañas conjuntas."),
    "REB-1K": ("Crédito de reembolso, 1.000", "En la próxima factura."),
    "REB-10K": ("Crédito de reembolso, 10.000", "En la próxima factura."),
    "EXP-SUMMIT": ("Pase para la cumbre de socios", "Viaje no incluido."),
    "TRV-CLUB": ("Viaje del club del presidente", "Cuatro noches para dos."),
    "EXP-DINNER": ("Cena con la dirección", "Con la dirección del fabricante."),
}


def seed_rewards(*, partner: Partner, member: User, manager: User) -> None:
    if Reward.objects.exists():
        return
    for sku, name, kind, points, rank, stock, fulfilment, approval, description in CATALOG:
        Reward.objects.create(
            sku=sku,
            name=name,
            kind=kind,
            points_cost=points,
            minimum_tier_rank=rank,
            stock=stock,
            fulfilment=fulfilment,
            requires_approval=approval,
            description=description,
            translations={"es": dict(zip(("name", "description"), SPANISH[sku], strict=True))},
            limit_per_partner=5 if kind == "gift_card" else None,
        )
    codes_load(reward=Reward.objects.get(sku="GC-AMZ-25"), codes=[f"DEMO-25-{index:04d}-XQ7P" for index in range(20)])
    codes_load(reward=Reward.objects.get(sku="GC-AMZ-100"), codes=[f"DEMO-100-{index:04d}-LM2K" for index in range(8)])
    Reward.objects.filter(sku="MER-HOODIE").update(options="S, M, L, XL")
    rewards = {reward.sku: reward for reward in Reward.objects.all()}

    def redeem(sku: str, key: str, option: str = "") -> Redemption:
        return reward_redeem(
            partner=partner,
            requested_by=member,
            reward=rewards[sku],
            idempotency_key=f"demo:{key}",
            option=option,
            shipping_address=f"{partner.name}, 1 Harbour Street, Springfield",  # kept for merchandise only
        )

    redeem("GC-AMZ-25", "gift-card")  # fulfilled at once with a code
    redeem("REB-1K", "rebate")  # fulfilled at once with a credit note
    hoodie = redeem("MER-HOODIE", "hoodie", option="L")
    redemption_fulfil(redemption=hoodie, actor=manager, tracking="UPS 1Z999AA10123456784")
    redeem("MER-MUG", "mug")  # approved, waiting to ship
    redeem("TRN-PRO", "voucher")  # requested: needs approval
    redemption_reject(
        redemption=redeem("MER-BACKPACK", "backpack"), actor=manager, reason="Discontinued model; pick another bag."
    )
    cancelled = redeem("TRN-PRO", "voucher-2")
    redemption_cancel(redemption=cancelled, actor=member)
    # Approved by hand after waiting for review (the demo partner's tier allows it only at Gold and above).
    if partner_tier_rank(partner=partner) >= rewards["REB-10K"].minimum_tier_rank:
        redemption_approve(redemption=redeem("REB-10K", "big-rebate"), actor=manager)
