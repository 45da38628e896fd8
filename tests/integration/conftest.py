"""Integration tests need the real engine and the images `make setup` builds; they never skip."""

import pytest

from harness.runtime import docker_client


@pytest.fixture(scope="session")
def docker():
    return docker_client()


@pytest.fixture(scope="session")
def world_pool():
    """One pooled world per session (per xdist worker) for tests that run scenarios one by one
    (harness/pool.py); removed at the end."""
    from harness.pool import WorldPool
    from harness.runtime import Run
    pool = WorldPool(Run())
    yield pool
    pool.close()
