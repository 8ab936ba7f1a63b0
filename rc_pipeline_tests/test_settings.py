import pytest

from rc_pipeline.ringcentral import SettingsError, derive_media_url
from rc_pipeline.settings import ringcentral_settings

BASE = {
    "RC_SERVER_URL": "https://platform.ringcentral.com",
    "RC_CLIENT_ID": "id",
    "RC_CLIENT_SECRET": "s3cret",
}


def test_jwt_settings_from_env_and_media_host_derived():
    s = ringcentral_settings({**BASE, "RC_JWT": "jwt-value"})
    assert s.grant == "jwt"
    assert s.media_url == "https://media.ringcentral.com"


def test_media_url_derivation_and_override():
    assert (
        derive_media_url("https://platform.devtest.ringcentral.com")
        == "https://media.devtest.ringcentral.com"
    )
    assert derive_media_url("http://127.0.0.1:8765") == "http://127.0.0.1:8765"
    s = ringcentral_settings({**BASE, "RC_JWT": "j", "RC_MEDIA_URL": "http://127.0.0.1:9999/"})
    assert s.media_url == "http://127.0.0.1:9999"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RC_CLIENT_ID": "i", "RC_CLIENT_SECRET": "s", "RC_JWT": "j"}, "RC_SERVER_URL"),
        ({**BASE, "RC_CLIENT_ID": ""}, "RC_CLIENT_ID"),
        ({**BASE, "RC_JWT": "j", "RC_CLIENT_SECRET": " "}, "RC_CLIENT_SECRET"),
        (BASE, "RC_JWT"),
        ({**BASE, "RC_USERNAME": "+1650"}, "RC_PASSWORD"),
        ({**BASE, "RC_PASSWORD": "pw"}, "RC_USERNAME"),
        ({**BASE, "RC_JWT": "j", "RC_USERNAME": "u", "RC_PASSWORD": "p"}, "RC_JWT and RC_USERNAME"),
        ({**BASE, "RC_JWT": "j", "RC_SERVER_URL": "platform.ringcentral.com"}, "RC_SERVER_URL"),
    ],
)
def test_missing_or_contradictory_settings_name_the_variable(env, named):
    with pytest.raises(SettingsError) as info:
        ringcentral_settings(env)
    assert named in str(info.value)


def test_password_grant_is_legacy_option():
    s = ringcentral_settings(
        {**BASE, "RC_USERNAME": "+16505550100", "RC_PASSWORD": "pw", "RC_EXTENSION": "101"}
    )
    assert s.grant == "password"


def test_secrets_never_in_repr():
    s = ringcentral_settings({**BASE, "RC_JWT": "very-secret-jwt"})
    assert "very-secret-jwt" not in repr(s)
    assert "s3cret" not in repr(s)
