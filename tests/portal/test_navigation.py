"""The header's role links, rendered once per process for each role and language, stay each role's own."""

from tests.conftest import World


def _links(client) -> str:
    page = client.get("/notifications/").content.decode()
    return page[page.index("<header") : page.index("</header>")]


def test_each_role_and_language_keeps_its_own_header_links(acme: World, client_for) -> None:
    admin = _links(client_for(acme, acme.partner_admin))
    user = _links(client_for(acme, acme.partner_user))
    manager = _links(client_for(acme, acme.manager))
    acme.partner_user.language = "es"
    acme.partner_user.save(update_fields=["language"])
    spanish = _links(client_for(acme, acme.partner_user))
    assert 'href="/team/"' in admin
    assert 'href="/team/"' not in user
    assert 'href="/rewards/"' in user
    assert 'href="/rewards/"' not in manager
    assert 'href="/admin/"' in manager
    assert ">Recompensas<" in spanish
    assert ">Rewards<" in user
