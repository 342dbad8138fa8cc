"""How an application to join names a company: its name without legal suffixes, its website's host."""

import re
import unicodedata
from urllib.parse import urlsplit

# Endings that make "Northwind Ltd" and "Northwind" one company; compared after lower-casing and dropping accents.
LEGAL_SUFFIXES = frozenset(
    {
        "ag",
        "bv",
        "co",
        "company",
        "corp",
        "corporation",
        "gmbh",
        "inc",
        "llc",
        "ltd",
        "limited",
        "plc",
        "pty",
        "sa",
        "sas",
        "sl",
        "spa",
        "srl",
    }
)


def company_name_key(name: str) -> str:
    """`Northwind Traders, S.L.` and `northwind traders` → `northwind traders`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[0-9a-z]+", ascii_name.replace(".", ""))
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def website_domain(url: str) -> str:
    """`https://www.Northwind.example/about` → `northwind.example`."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host.removeprefix("www.")


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower().rstrip(".")
