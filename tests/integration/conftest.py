"""Integration tests need the real engine and the images `make setup` builds; they never skip."""

import pytest

from harness.runtime import docker_client


@pytest.fixture(scope="session")
def docker():
    return docker_client()
