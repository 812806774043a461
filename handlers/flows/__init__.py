"""Every flow the engine knows, by name."""

from __future__ import annotations

from handlers.flow import Flow
from handlers.flows import issue_invite, join, language, problem_report

FLOWS: dict[str, Flow] = {
    flow.FLOW.name: flow.FLOW for flow in (join, language, problem_report, issue_invite)
}
