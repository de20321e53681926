"""Namespace for OpenMMLab-style projects (``projects.prompthub``)."""
