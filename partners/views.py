"""Partner-side files: evidence is served only to people allowed to see the activity."""

from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache

from loyalty.tenancy.permissions import membership_required
from loyalty.uploads import stored_upload_response
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
    # Inline for the review page's <img> and the browser's PDF viewer, under a fixed name; anything else downloads.
    return stored_upload_response(activity.evidence, filename=f"evidence-{activity.pk}")
