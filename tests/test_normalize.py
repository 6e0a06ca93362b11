from __future__ import annotations

import gc

import pytest

from identity.identifiers import BUILTIN_TYPES, NormalizedIdentifier, display_of, node_id
from identity.normalize import Blocklist, Normalizer, junk_examples


@pytest.fixture
def norm() -> Normalizer:
    return Normalizer(types=dict(BUILTIN_TYPES), secret=b"s3cret", default_region="GB")


def test_email_is_trimmed_and_lower_cased_before_hashing(norm):
    a = norm.normalize("email", "  Ann.Smith@Example.COM ")
    b = norm.normalize("email", "ann.smith@example.com")
    assert isinstance(a, NormalizedIdentifier) and a == b
    assert "ann" not in a.key and a.key.startswith("email#") and len(a.key) == len("email#") + 64


def test_phone_goes_to_e164_with_the_default_region(norm):
    local = norm.normalize("phone", "020 7946 0018")
    intl = norm.normalize("phone", "+44 20 7946 0018")
    assert isinstance(local, NormalizedIdentifier) and local == intl
    assert norm.normalize("phone", "12") == "invalid_phone"
    assert norm.normalize("phone", "not a number") == "invalid_phone"


def test_keyed_hash_depends_on_the_secret(norm):
    other = Normalizer(types=dict(BUILTIN_TYPES), secret=b"another")
    assert norm.normalize("email", "a@b.co") != other.normalize("email", "a@b.co")


def test_invalid_email_is_ignored(norm):
    assert norm.normalize("email", "not-an-address") == "invalid_email"


@pytest.mark.parametrize(
    "value", [*junk_examples(), "", "  ", "00000000-0000-0000-0000-000000000000", "0000"]
)
def test_builtin_junk_is_ignored_for_every_type(norm, value):
    for type_name in BUILTIN_TYPES:
        assert norm.normalize(type_name, value) == "junk_value"


def test_surrounding_whitespace_never_matters(norm):
    assert norm.normalize("cookie", "  abc\t") == norm.normalize("cookie", "abc")
    assert norm.normalize("device_id", " ABC-1 ") == norm.normalize("device_id", "abc-1")


def test_customer_ids_keep_their_case(norm):
    assert norm.normalize("customer_id", "Ab1") != norm.normalize("customer_id", "ab1")


def test_blocklist_patterns_must_compile():
    with pytest.raises(ValueError, match="does not compile"):
        Blocklist(patterns=["("])


def test_display_form_of_personal_keys_is_a_short_hash_tag(norm):
    email = norm.normalize("email", "ann@example.com")
    cookie = norm.normalize("cookie", "k#1:x")
    assert display_of(email.key) == "#" + email.key.split("#")[1][:12]
    assert node_id(email.key) == "email" + display_of(email.key)
    assert display_of(cookie.key) == "k#1:x" and node_id(cookie.key) == "cookie:k#1:x"


def test_cached_identifiers_stay_out_of_the_garbage_collectors_walks(norm):
    """The normalizer's cache holds up to 262,144 of them for the life of the server; as tracked
    objects each full collection walked them all (server.heap)."""
    ident = norm.normalize("email", "ann.smith@example.com")
    assert isinstance(ident, NormalizedIdentifier)
    assert not gc.is_tracked(ident)
