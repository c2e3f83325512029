"""base64url without padding (domain/base64url.py), the one spelling of ids and cursors."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import base64url


@given(st.binary(max_size=64))
def test_encode_is_the_urlsafe_alphabet_without_padding_and_decodes_back(raw):
    text = base64url.encode(raw)
    assert text == base64.urlsafe_b64encode(raw).decode().rstrip("=") and "=" not in text
    assert base64url.decode(text) == base64url.decode_canonical(text) == raw
    assert base64url.decode(base64.urlsafe_b64encode(raw).decode()) == raw  # padded too


@pytest.mark.parametrize(
    "text",
    ["YQ==", "YQ=", "YR", "Y!Q", "Y+8", "Y/8", "Y Q"],  # padding, spare bits, outside the urlsafe alphabet
)
def test_decode_canonical_accepts_only_the_spelling_encode_writes(text):
    with pytest.raises(ValueError):
        base64url.decode_canonical(text)


def test_decode_is_as_lenient_as_the_standard_library():
    assert base64url.decode("YW!Jj") == base64url.decode("YWJj") == b"abc"  # the stray character is skipped
    with pytest.raises(ValueError):
        base64url.decode_canonical("YW!Jj")
    with pytest.raises(ValueError):
        base64url.decode("Y")  # one character cannot be bytes
