"""Partner applications: the OAuth2 client model and its scopes (flows come later)."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import check_password

from bankmall.core.errors import InvalidInput
from bankmall.security.actions import register_partner_application
from bankmall.security.models import PartnerApplication

pytestmark = pytest.mark.django_db


def test_a_partner_gets_a_client_id_and_a_secret_stored_only_as_a_hash() -> None:
    new = register_partner_application(
        name="Acme Pay",
        redirect_uris=["https://acme.example/callback"],
        scopes=["payments:write", "accounts:read"],
        actor="test",
    )

    stored = PartnerApplication.objects.get()
    assert stored.client_id.startswith("cli_")
    assert stored.scopes == ["accounts:read", "payments:write"]
    assert new.client_secret not in stored.client_secret_hash
    assert check_password(new.client_secret, stored.client_secret_hash)


def test_unknown_scopes_and_plain_http_redirects_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        register_partner_application(
            name="Acme Pay",
            redirect_uris=["http://acme.example/callback"],
            scopes=["everything:write"],
            actor="test",
        )

    assert {error.field for error in caught.value.errors} == {"scopes", "redirect_uris"}
    assert not PartnerApplication.objects.exists()
