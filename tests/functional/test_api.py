"""The API's shape: health, the OpenAPI document, authentication and permissions."""
from __future__ import annotations



def test_health(service):
    body = service.app.get("/api/v1/health").json
    assert body["status"] == "ok" and body["database"] == "ok"


def test_openapi_document_is_served(service):
    resp = service.app.get("/api/openapi.yaml")
    assert b"openapi:" in resp.body and b"/invoices" in resp.body


def test_no_token_is_401_with_the_error_shape(service):
    resp = service.app.get("/api/v1/invoices", status=401)
    assert resp.json["error"]["code"] == "unauthenticated"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_wrong_token_is_401(service):
    service.app.get("/api/v1/invoices", headers={"Authorization": "Bearer ia_nope"}, status=401)


def test_wrong_role_is_403(service):
    resp = service.app.get("/api/v1/audit/events", headers=service.headers("张经办"), status=403)
    assert resp.json["error"]["code"] == "forbidden"


def test_unknown_path_is_404_json(service):
    assert service.app.get("/api/v1/nothing", status=404).json["error"]["code"] == "not_found"


def test_a_view_that_forgets_its_permission_denies(db_url, tmp_path):
    """The default permission is one no role holds, so a forgotten one denies."""
    import webtest

    from invoice_archive.config import configure
    from invoice_archive.db import make_engine
    from tests.support.app import make_service

    svc = make_service(db_url, tmp_path / "store")   # org and tokens in this database
    config = configure({"sqlalchemy.url": db_url, "archive.store_url": (tmp_path / "store").as_uri()},
                       **{"invoice_archive.engine": make_engine(db_url)})
    config.add_route("careless", "/api/v1/careless")
    config.add_view(lambda request: {"secret": 1}, route_name="careless", renderer="json")
    app = webtest.TestApp(config.make_wsgi_app())
    app.get("/api/v1/careless", headers=svc.headers("管理员") if "管理员" in svc.tokens else
            {"Authorization": f"Bearer {svc.add_person('管理员', 'admin')}"}, status=403)
    svc.engine.dispose()


def test_tokens_are_stored_hashed(service):
    from sqlalchemy import text

    with service.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    assert all(t not in stored for t in service.tokens.values())


def test_servable_the_standard_pyramid_way(db_url, tmp_path, monkeypatch):
    """pyramid.paster.get_app(ini) builds the same app under any WSGI server."""
    import webtest
    from pyramid.paster import get_app

    from tests.support.db import PROJECT

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("ARCHIVE_STORE_URL", (tmp_path / "store").as_uri())
    app = webtest.TestApp(get_app(str(PROJECT / "development.ini"), "main"))
    assert app.get("/api/v1/health").json["status"] == "ok"
    app.get("/api/v1/invoices", status=401)


def test_with_the_database_down_the_api_answers_503_in_its_own_shape(tmp_path):
    """Nothing listens on the database's port: every API route says 503 with a
    code and Retry-After, as /health does, never a plain-text 500."""
    import webtest

    from invoice_archive.config import configure

    config = configure({"sqlalchemy.url": "postgresql+psycopg://postgres@127.0.0.1:9/none",
                        "archive.store_url": (tmp_path / "store").as_uri(), "here": str(tmp_path)})
    app = webtest.TestApp(config.make_wsgi_app())
    for path in ("/api/v1/invoices", "/api/v1/claims/1", "/api/v1/audit/events"):
        r = app.get(path, headers={"Authorization": "Bearer ia_whatever"}, status=503)
        assert r.json["error"]["code"] == "database_unavailable" and r.headers["Retry-After"]
    assert app.get("/api/v1/health", status=503).json["error"]["code"] == "unavailable"
