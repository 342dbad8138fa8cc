"""Spanish numbers for Latin-American B2B readers: 1.250 and 12.400,50, not Django's default 1 250 (a space).

Only the separators change, and a date may also be typed 31-12-2026; the rest is Django's Spanish formats (below).
"""

from django.conf.locale.es.formats import *  # noqa: F403

THOUSAND_SEPARATOR = "."
DECIMAL_SEPARATOR = ","
NUMBER_GROUPING = 3

# What a Spanish reader types in a date box (portal forms, loyalty.inputs.ReaderDateInput): 31/12/2026 first (what
# the box shows), 31/12/26, and 31-12-2026; ISO (2026-12-31) is always accepted on top (Django adds it).
DATE_INPUT_FORMATS = [*DATE_INPUT_FORMATS, "%d-%m-%Y"]  # noqa: F405 - Django's Spanish formats, imported above
