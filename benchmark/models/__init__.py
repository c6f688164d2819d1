"""Backbones (GCN, GAT, GIN, GraphSAGE, APPNP, SGC, MLP) for node and graph tasks, on PyG."""

from benchmark.models.backbones import BACKBONES, Backbone, BackboneOutput, build_backbone

__all__ = ["BACKBONES", "Backbone", "BackboneOutput", "build_backbone"]
