"""Shared domain of catalyst-preview: pure rules (L0) and one adapter per external system (L1)."""
