"""Sign-in and reset throttles count per account, however the address is spelled: fullwidth
forms, case and IDNA respellings of one address share one bucket (issue 12, item 3)."""

from __future__ import annotations

from portal.auth.throttle_keys import throttle_address

RESPELLINGS = [
    "owner@example.com",
    "OWNER@Example.COM",
    "ｏｗｎｅｒ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "Owner@EXAMPLE.com.",
    "ｏｗｎｅｒ@ＥＸＡＭＰＬＥ.com",
    "owner@example.com ",
]


def test_respellings_of_one_address_fold_to_one_key():
    assert {throttle_address(spelling) for spelling in RESPELLINGS} == {"owner@example.com"}
    assert throttle_address("a@exämple.com") == throttle_address("A@XN--EXMPLE-CUA.COM")
    assert throttle_address("straße@example.com") == throttle_address("STRASSE@example.com")
    assert throttle_address("other@example.com") != "owner@example.com"


def test_sign_in_throttle_holds_across_respellings(auth, factory):
    factory.account(email="owner@example.com")
    for spelling in RESPELLINGS[:5]:
        assert auth.login(spelling, "wrong password entirely").status_code == 400
    response = auth.login(RESPELLINGS[5], "wrong password entirely")
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_reset_throttle_holds_across_respellings(auth, factory):
    factory.account(email="owner@exämple.com")
    spellings = ["owner@exämple.com", "OWNER@xn--exmple-cua.com", "ｏｗｎｅｒ@EXÄMPLE.com"]
    for spelling in spellings:
        response = auth.post_form("/reset-password", {"email": spelling})
        assert response.status_code == 302, spelling
    response = auth.post_form("/reset-password", {"email": "Owner@XN--EXMPLE-CUA.com"})
    assert response.status_code == 429
