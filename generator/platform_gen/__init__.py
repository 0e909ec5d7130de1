"""platform-gen: compile a platform repo into the rendered tree that Argo CD pulls."""

__all__ = ["__version__"]
__version__ = "0.1.0"
