import pytest
from django.contrib.auth import get_user_model

from mlops_site import demo
from mlops_site.models import Job
from mlops_site.roles import roles_of

pytestmark = pytest.mark.django_db


def test_demo_creates_one_user_per_role_and_is_idempotent(settings, tmp_path, monkeypatch):
    settings.DATA_DIR = tmp_path
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    lines: list[str] = []
    demo.run(lines.append)
    demo.run(lines.append)
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=["scientist", "reviewer", "admin"])}
    assert {name: roles_of(u) for name, u in users.items()} == {
        "scientist": ["data-scientist"],
        "reviewer": ["reviewer"],
        "admin": ["admin"],
    }
    password = (tmp_path / "demo-password").read_text()
    assert all(u.check_password(password) for u in users.values())
    assert any(password in line for line in lines)
    assert users["admin"].is_staff and not users["reviewer"].is_staff
    assert Job.objects.filter(kind="system.selfcheck").count() == 1


def test_demo_password_from_environment(settings, tmp_path, monkeypatch):
    settings.DATA_DIR = tmp_path
    monkeypatch.setenv("DEMO_PASSWORD", "s3cret-demo-pass")
    demo.run(lambda line: None)
    assert get_user_model().objects.get(username="reviewer").check_password("s3cret-demo-pass")
