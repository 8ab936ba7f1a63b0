"""A real S3 protocol server on loopback (moto's server mode) for the object-store tests.

The archive talks to it exactly as to AWS: over HTTP, through s3fs, with credentials and the endpoint
taken from the standard AWS environment variables. Nothing is mocked inside the process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

moto_server = pytest.importorskip(
    "moto.server", reason="moto[server] is a dev extra: pip install -e '.[dev]'"
)
s3fs = pytest.importorskip("s3fs", reason="s3fs is the [s3] extra: pip install -e '.[s3]'")

REGION = "us-east-1"


@dataclass(frozen=True)
class S3Endpoint:
    """Where the loopback S3 server answers, and how to reach it as a client would."""

    url: str

    def environ(self) -> dict[str, str]:
        """The standard AWS variables a user sets for a non-AWS endpoint (botocore reads them)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "rc-pipeline-test",
            "AWS_SECRET_ACCESS_KEY": "rc-pipeline-test-secret",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def client(self):
        """A boto3 client for assertions the filesystem API does not offer (locks, versions)."""
        import boto3

        env = self.environ()
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )

    def make_bucket(self, *, object_lock: bool = False) -> str:
        """A new, empty bucket (with Object Lock enabled when asked); returns its name."""
        name = f"rc-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=object_lock)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Endpoint]:
    """One moto S3 server on 127.0.0.1 for the session (buckets keep tests apart)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Endpoint]:
    """The server, with this process's AWS environment pointing at it and s3fs's instance cache clear
    (s3fs caches filesystems by arguments, so one built for another endpoint must not be reused)."""
    for key, value in s3_server.environ().items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_server
    s3fs.S3FileSystem.clear_instance_cache()
