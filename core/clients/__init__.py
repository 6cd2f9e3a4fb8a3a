"""Adapters: one module per external system (GitHub, Kubernetes, queue, Helm); map their errors."""
