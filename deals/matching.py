"""Customer matching for conflict detection: names, domains and tax ids normalised, and names compared.

Pure functions, no queries: `services.py` stores the normalised name on each registration (indexed) and asks
the database only for candidates that share a key (tax id, domain, normalised name or its first word); the
similarity of the names is then scored here.
"""

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from difflib import SequenceMatcher

# Words that name a company's legal form, not the company: "ACME Corp." and "Acme Corporation" are one customer.
LEGAL_FORMS = frozenset(
    {
        "ab", "ag", "bv", "co", "company", "corp", "corporation", "gmbh", "inc", "incorporated", "kg", "kk",
        "limited", "llc", "llp", "lp", "ltd", "nv", "oy", "plc", "pty", "sa", "sab", "sarl", "sas", "sl", "spa",
        "srl", "ltda", "cv", "de", "and",
    }
)  # fmt: skip
SIMILAR_NAME_THRESHOLD = Decimal("0.850")


def normalise_name(name: str) -> str:
    """Lower case, no accents or punctuation, no leading "the" and no trailing legal forms ("Acme Corp." → "acme")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    text = re.sub(r"[.'’]", "", text)  # "S.A." → "sa", "O'Neil" → "oneil"
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in LEGAL_FORMS:
        words.pop()
    return " ".join(words)[:200]


def normalise_domain(domain: str) -> str:
    """A web domain as typed ("https://www.Acme.com/about", "sales@acme.com") reduced to "acme.com"."""
    text = domain.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.rsplit("@", 1)[-1]
    text = re.split(r"[/:?#]", text, maxsplit=1)[0].rstrip(".")
    return text.removeprefix("www.")


def normalise_tax_id(tax_id: str) -> str:
    """Upper case letters and digits only ("es b-123.456" → "ESB123456")."""
    return re.sub(r"[^A-Z0-9]", "", tax_id.upper())


def name_similarity(first: str, second: str) -> Decimal:
    """How alike two normalised names are, from 0 to 1 (difflib's ratio), to three decimals."""
    if not first or not second:
        return Decimal(0)
    ratio = SequenceMatcher(None, first, second).ratio()
    return Decimal(str(round(ratio, 3)))


@dataclass(frozen=True)
class Customer:
    key: str
    domain: str
    tax_id: str


@dataclass(frozen=True)
class Match:
    rule: str  # DealConflict.Rule
    score: Decimal


def customer_match(new: Customer, earlier: Customer) -> Match | None:
    """The strongest rule under which two customers are the same, with the names' similarity; None if none holds.

    Rules, strongest first: same tax id, same web domain, same normalised name, names at least 85 % alike.
    """
    similarity = name_similarity(new.key, earlier.key)
    if new.tax_id and new.tax_id == earlier.tax_id:
        return Match("tax_id", Decimal(1))
    if new.domain and new.domain == earlier.domain:
        return Match("domain", Decimal(1))
    if new.key == earlier.key:
        return Match("name", Decimal(1))
    if similarity >= SIMILAR_NAME_THRESHOLD:
        return Match("similar_name", similarity)
    return None
