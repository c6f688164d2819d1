"""Backbones (GCN, GAT, GIN, GraphSAGE, MLP) for node and graph tasks, built on PyG layers."""

from benchmark.models.backbones import BACKBONES, Backbone, BackboneOutput, build_backbone

__all__ = ["BACKBONES", "Backbone", "BackboneOutput", "build_backbone"]
