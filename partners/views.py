"""Partner-side files: evidence is served only to people allowed to see the activity."""

from pathlib import PurePath

from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache

from loyalty.tenancy.permissions import membership_required
from loyalty.uploads import SNIFF_BYTES
from partners.evidence import evidence_content_type
from partners.models import Activity
from partners.selectors import partners_visible_to


@never_cache
@membership_required()
def activity_evidence(request: HttpRequest, activity_id: int) -> FileResponse:
    """The evidence of an activity the member may see (staff, its account manager, its partner's members)."""
    activity = get_object_or_404(
        Activity.objects.filter(partner__in=partners_visible_to(request.membership)), pk=activity_id
    )
    if not activity.evidence:
        raise Http404
    handle = activity.evidence.open("rb")
    content_type = evidence_content_type(handle.read(SNIFF_BYTES)) or "application/octet-stream"
    handle.seek(0)
    # Inline for the review page's <img> and the browser's PDF viewer, under a fixed name; anything else downloads.
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=content_type == "application/octet-stream",
        filename=f"evidence-{activity.pk}{PurePath(activity.evidence.name).suffix.lower()}",
    )
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response
