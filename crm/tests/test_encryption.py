from django.test import override_settings

from crm.lib.encryption import decrypt, encrypt


def test_an_encrypted_secret_decrypts_to_what_was_stored():
    token = encrypt("app-pässword", purpose="mailbox")
    assert "app-pässword" not in token
    assert decrypt(token, purpose="mailbox") == "app-pässword"


def test_the_same_secret_encrypts_differently_each_time():
    assert encrypt("x", purpose="mailbox") != encrypt("x", purpose="mailbox")


def test_a_secret_for_one_purpose_does_not_decrypt_for_another():
    assert decrypt(encrypt("x", purpose="mailbox"), purpose="calendar") is None


def test_a_new_secret_key_makes_old_secrets_unreadable_instead_of_failing():
    token = encrypt("x", purpose="mailbox")
    with override_settings(SECRET_KEY="another-secret-key-" * 3):
        assert decrypt(token, purpose="mailbox") is None


def test_empty_or_tampered_tokens_decrypt_to_none():
    token = encrypt("x", purpose="mailbox")
    assert decrypt("", purpose="mailbox") is None
    assert decrypt(token[:-4] + "AAAA", purpose="mailbox") is None
    assert decrypt("not a token ✗", purpose="mailbox") is None
