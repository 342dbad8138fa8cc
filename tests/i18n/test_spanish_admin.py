"""A program manager who chose Spanish reads the tenant admin's own words (actions, messages) in Spanish."""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from tests.conftest import World
from tests.i18n.test_spanish_pages import speaks
from tests.partners.test_review_admin import pending_activity


def test_review_actions_speak_the_managers_language(acme: World, client_for) -> None:
    speaks(acme.manager, "es")
    pending_activity(acme)

    page = client_for(acme, acme.manager).get("/admin/partners/activity/").content.decode()

    assert '<option value="approve">Aprobar las filas seleccionadas</option>' in page
    assert '<option value="reject">Rechazar las filas seleccionadas, con un motivo</option>' in page
    assert "Approve the selected rows" not in page
    assert "Reject the selected rows" not in page


def test_review_decision_is_reported_in_the_managers_language(acme: World, client_for) -> None:
    speaks(acme.manager, "es")
    activity = pending_activity(acme)

    response = client_for(acme, acme.manager).post(
        "/admin/partners/activity/", {"action": "approve", ACTION_CHECKBOX_NAME: [activity.pk]}, follow=True
    )

    page = response.content.decode()
    assert "Aprobadas: 1." in page
    assert "1 approved." not in page
