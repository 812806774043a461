"""Every flow the engine knows, by name: each module in this package exports `FLOW`
(or `FLOWS`, a tuple), found at import, so a new flow is one new module."""

from __future__ import annotations

import importlib
import pkgutil

from handlers.flow import Flow


def _discover() -> dict[str, Flow]:
    found: dict[str, Flow] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        flows = getattr(module, "FLOWS", None) or (
            (module.FLOW,) if hasattr(module, "FLOW") else ())
        for flow in flows:
            if flow.name in found:
                raise RuntimeError(f"two flows are named {flow.name!r}")
            found[flow.name] = flow
    return found


FLOWS: dict[str, Flow] = _discover()
