"""Confirm first: every destructive action of the portal is a GET that says what will happen and a POST that does it.

The list pages link to the action's URL; its GET renders one shared page (what, its consequences, one button that
posts back to the same URL, and a way out). The POST is safe to repeat: an action already done says so instead
of failing or acting twice (issue 17, item 19). Works without script, so a back button or a reload never acts.
"""

from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@dataclass(frozen=True)
class Confirmation:
    title: str
    question: str
    action_label: str
    cancel_url: str
    consequences: list[str] = field(default_factory=list)
    done: str = ""  # the action already happened: the page says so and offers no button
    hidden: dict[str, str] = field(default_factory=dict)  # what the button posts back (a decision's fields)


def confirmation_render(request: HttpRequest, confirmation: Confirmation) -> HttpResponse:
    return render(request, "portal/confirm.html", {"confirmation": confirmation})
