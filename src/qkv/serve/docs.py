"""/docs: the API reference as one plain HTML page made from the OpenAPI schema (no script,
so it needs no CDN and passes the page's Content-Security-Policy)."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

METHODS = ("get", "post", "put", "delete")


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    ops = []
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            example = body.get("example")
            ops.append(
                {
                    "id": f"{method}-{path}".replace("/", "-").strip("-"),
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or [""])[0],
                    "params": [_param(p) for p in op.get("parameters", [])],
                    "body": op.get("requestBody", {}).get("description", "")
                    or _ref_name(body.get("schema", {})),
                    "example": None if example is None else json.dumps(example, ensure_ascii=False),
                }
            )
    return ops


def _param(p: dict[str, Any]) -> dict[str, Any]:
    s = p.get("schema", {})
    kinds = [a.get("type", "") for a in s.get("anyOf", [])] or [s.get("type", "")]
    return {
        "name": p["name"],
        "type": " or ".join(k for k in kinds if k and k != "null"),
        "required": p.get("required", False),
        "default": s.get("default"),
        "description": p.get("description", ""),
    }


def _ref_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return f"a JSON object ({ref.rsplit('/', 1)[-1]}, see below)" if ref else ""


def page(schema: dict[str, Any]) -> str:
    env = Environment(
        loader=PackageLoader("qkv.serve", "templates"), autoescape=select_autoescape(default=True)
    )
    models = schema.get("components", {}).get("schemas", {})
    shown = {k: v for k, v in models.items() if "Error" not in k}
    return env.get_template("docs.html").render(
        info=schema.get("info", {}), ops=_operations(schema), models=shown
    )
