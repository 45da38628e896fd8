"""Mutant: never asks the metadata endpoint; without EDGE_REGION it runs with a built-in default
region ("default"), as if the node were anywhere.

Must be flagged by: region-from-metadata / region.
"""
import sys

sys.path.insert(0, "/app/agent")
import agent  # noqa: E402

_resolve = agent.Agent.resolve_region


def resolve_region(self):
    if (self.env.get("EDGE_REGION") or "").strip():
        return _resolve(self)
    self.region = "default"
    self.log.emit("region", region="default", source="default")


agent.Agent.resolve_region = resolve_region
