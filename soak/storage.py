"""`SOAK_STORAGE=s3`: the soak's images in a bucket of an S3-compatible server of its own (moto, loopback)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import boto3

BUCKET = "gp-soak"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "soak-access-key", "AWS_SECRET_ACCESS_KEY": "soak-secret-key"}
REGION = "us-east-1"


class ObjectStore:
    """`python -m moto.server` on a free loopback port, with one private bucket; stopped by stop()."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client().create_bucket(Bucket=BUCKET)
                return
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit("the S3-compatible server (moto) did not start") from None
                time.sleep(0.2)

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def environment(self) -> dict[str, str]:
        """What the server (and manage.py) needs to store images in the bucket."""
        return {
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_REGION_NAME": REGION,
            **CREDENTIALS,
        }

    def count(self) -> int:
        paginator = self.client().get_paginator("list_objects_v2")
        return sum(page.get("KeyCount", 0) for page in paginator.paginate(Bucket=BUCKET))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
