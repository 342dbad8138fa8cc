"""Spanish numbers for Latin-American B2B readers: 1.250 and 12.400,50, not Django's default 1 250 (a space).

Only the separators change; dates and times stay Django's Spanish formats (imported below).
"""

from django.conf.locale.es.formats import *  # noqa: F403

THOUSAND_SEPARATOR = "."
DECIMAL_SEPARATOR = ","
NUMBER_GROUPING = 3
