import pytest

from tests.sso.idp import oidc_provider_running


@pytest.fixture(scope="session")
def oidc_idp(tmp_path_factory):
    """One real OpenID Connect provider process for the session's single sign-on tests."""
    with oidc_provider_running(tmp_path_factory.mktemp("oidc-idp")) as provider:
        yield provider


@pytest.fixture(autouse=True)
def _idp_behaves(request):
    """Every test starts with the provider behaving (a test may make it misbehave)."""
    if "oidc_idp" in request.fixturenames:
        request.getfixturevalue("oidc_idp").misbehave("")
