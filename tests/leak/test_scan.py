"""The leak scan finds a secret in each form it looks for, at every alignment, and nothing in a
file without it."""

import base64
import urllib.parse

from scan import encodings, scan

SECRET = b"kh_test_4WqZk9ABCDEFGHIJKLMNOPQRSTUV0cZk3a"


def found(tmp_path, data: bytes, secret: bytes = SECRET) -> list[str]:
    (tmp_path / "file").write_bytes(data)
    return [how for _p, _s, how in scan([secret], [tmp_path])[2]]


def test_a_secret_is_found_as_is_and_in_base64_at_any_offset(tmp_path):
    assert found(tmp_path, b"log: key=" + SECRET + b"\n") == ["as is"]
    for before in range(6):
        blob = b"x" * before + b"Authorization: " + SECRET + b" trailing"
        assert found(tmp_path, base64.b64encode(blob)) == ["base64"], before
        assert found(tmp_path, base64.urlsafe_b64encode(b"\xfb\xff" + blob)) in (["base64"], ["URL-safe base64"]), before


def test_a_secret_with_special_characters_is_found_percent_encoded(tmp_path):
    secret = b"a password/with+special=chars & more"
    assert found(tmp_path, b"q=" + urllib.parse.quote(secret.decode(), safe="").encode(), secret) == ["percent-encoded"]
    assert found(tmp_path, b"q=" + urllib.parse.quote_plus(secret.decode()).encode(), secret) == ["form-encoded"]


def test_other_data_is_not_a_hit(tmp_path):
    assert found(tmp_path, base64.b64encode(b"nothing secret here, only text " * 20)) == []
    assert all(len(form) >= 16 for form, _ in encodings(SECRET))
