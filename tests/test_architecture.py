"""Imports point only to lower layers; only the Socket.IO adapters import socketio."""

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1] / "server"
LAYERS = {
    "server.errors": 0,
    "server.config": 1,
    "server.periodic": 1,
    "server.storage": 2,
    "server.identity": 2,
    "server.audit": 3,
    "server.sessions": 4,
    "server.chat": 5,
    "server.gateway": 5,
    "server.providers": 5,
    "server.accounts": 5,
    "server.cluster": 6,  # builds on the gateway's fan-out
    "server.health": 5,
    "server.metrics": 1,
    "server.logs": 1,
    "server.http": 6,
    "server.headers": 6,
    "server.admin": 7,
    "server.app": 8,
    "server.__main__": 9,
}
FORBIDDEN_EVERYWHERE_BUT = {
    "socketio": {
        "server.chat.transport",
        "server.gateway.packets",
        "server.gateway.fanout",
        "server.gateway.server",
        "server.cluster.manager",
        "server.app",
    }
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SERVER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    return max(v for k, v in LAYERS.items() if module == k or module.startswith(k + "."))


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_imports_point_to_lower_layers_or_within_the_package() -> None:
    problems = []
    for path in SERVER.rglob("*.py"):
        me = module_name(path)
        package = ".".join(me.split(".")[:2])
        for target in imports(path):
            if (
                not target.startswith("server.")
                or target.startswith(package + ".")
                or target == package
            ):
                continue
            if layer(target) >= layer(me) and not (
                me == "server.__main__" and target == "server.app"
            ):
                problems.append(f"{me} imports {target}")
    assert problems == []


def test_identity_and_storage_do_not_import_each_other() -> None:
    for a, b in (("identity", "storage"), ("storage", "identity")):
        for path in (SERVER / a).rglob("*.py"):
            assert not any(t.startswith(f"server.{b}") for t in imports(path)), path


def test_only_the_transport_speaks_socketio() -> None:
    for path in SERVER.rglob("*.py"):
        me = module_name(path)
        for target in imports(path):
            for name, allowed in FORBIDDEN_EVERYWHERE_BUT.items():
                if target == name or target.startswith(name + "."):
                    assert me in allowed, f"{me} imports {target}"


def test_other_packages_are_used_through_their_public_api() -> None:
    problems = []
    for path in SERVER.rglob("*.py"):
        me = module_name(path)
        package = ".".join(me.split(".")[:2])
        for target in imports(path):
            for other in (
                "server.identity",
                "server.storage",
                "server.sessions",
                "server.chat",
                "server.gateway",
                "server.audit",
                "server.providers",
                "server.accounts",
                "server.cluster",
                "server.admin",
            ):
                if target.startswith(other + ".") and package != other:
                    problems.append(f"{me} imports {target}")
    assert problems == []


def test_session_errors_are_their_own_family_not_identity_errors() -> None:
    from server.errors import AppError
    from server.identity import IdentityError
    from server.sessions import errors

    families = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, AppError) and value is not AppError
    ]
    assert families
    assert all(issubclass(f, errors.SessionError) for f in families)
    assert not any(issubclass(f, IdentityError) for f in families)
