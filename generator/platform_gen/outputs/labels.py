"""Label keys shared by every output kind."""

from __future__ import annotations

__all__ = ["BACKSTAGE_ID", "CLUSTER", "ENVIRONMENT", "MANAGED_BY", "NAME", "PART_OF", "SERVICE", "TEAM", "TIER", "TOOL"]

TOOL = "platform-gen"
NAME = "app.kubernetes.io/name"
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
TEAM = "platform-gen.io/team"
SERVICE = "platform-gen.io/service"
ENVIRONMENT = "platform-gen.io/environment"
CLUSTER = "platform-gen.io/cluster"
TIER = "platform-gen.io/tier"
#: What Backstage's Kubernetes plugin finds a Component's objects by (its backstage.io/kubernetes-id annotation)
BACKSTAGE_ID = "backstage.io/kubernetes-id"
