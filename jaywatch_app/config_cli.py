"""``jaywatch config schema KIND``: the JSON Schema of a config file, for editors.

With it a YAML editor (e.g. VS Code's YAML extension: ``# yaml-language-server:
$schema=central.schema.json`` on the file's first line) completes keys, shows each key's
description and flags a wrong key or value before the service ever reads the file.
The schemas are made from the same pydantic models the services load the files with
(jaywatch/config_file.py), so they cannot drift from what is accepted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

# kind → (module, model, the shipped example it describes)
KINDS: dict[str, tuple[str, str, str]] = {
    "camera": ("edge.config", "CameraConfig", "config/cameras/*.yaml"),
    "gateway": ("edge.gateway_config", "GatewayConfig", "config/edge.example.yaml"),
    "faces": ("edge.faces.config", "FacesFile", "config/faces.example.yaml"),
    "central": ("central.config", "CentralConfig", "config/central.example.yaml"),
    "notices": ("central.notices.config", "NoticesConfig", "config/notices.example.yaml"),
    "fines": ("central.fines", "FineSchedule", "config/fines.yaml"),
}


def schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of config files of ``kind``."""
    module, name, example = KINDS[kind]
    model = getattr(importlib.import_module(module), name)
    out = model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"jaywatch {kind} config ({example})",
        **{k: v for k, v in out.items() if k != "title"},
    }


def _cmd_schema(args: argparse.Namespace) -> int:
    json.dump(schema(args.kind), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="config files: their JSON Schema")
    config_sub = p.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    s = config_sub.add_parser(
        "schema",
        help="print a config file's JSON Schema (for editors)",
        description="Print the JSON Schema of a config file kind, made from the models "
        "the services load it with.",
    )
    s.add_argument("kind", choices=sorted(KINDS), help="which config file")
    s.set_defaults(func=_cmd_schema)
